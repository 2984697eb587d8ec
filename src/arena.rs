//! The component's allocator: the system allocator (dlmalloc), except while a call's output
//! is being built, when allocations are bumped out of one region that the next call reuses
//! whole.
//!
//! Why: `normalize` returns three strings per usage row, hundreds of thousands per page, and
//! the host frees every one of them through the export's post-return function right after
//! copying them out. Inside the component each `free` cost about as much as writing the
//! record. From the region, an allocation is an addition and a `free` is a comparison.
//!
//! Why it is safe to reuse the region: the canonical ABI runs a call's post-return before the
//! component can be entered again, so when the next call opens the region, every string the
//! last one returned has been freed. The call must keep nothing from the region (no caches,
//! no statics): everything it allocates is either returned or dropped before it returns.

use std::alloc::{GlobalAlloc, Layout};
use std::cell::Cell;

/// A bump region in front of another allocator (see the module doc).
pub struct CallArena<A> {
    inner: A,
    /// The region: `size` bytes from `base` (none when `size` is 0).
    base: Cell<*mut u8>,
    size: Cell<usize>,
    /// The offset in the region of its first free byte.
    next: Cell<usize>,
    /// Whether allocations come from the region (between `open` and `close`).
    open: Cell<bool>,
}

// SAFETY: `new` requires the arena to be used from one thread only.
unsafe impl<A: Sync> Sync for CallArena<A> {}

/// The region's alignment: any larger alignment is bumped to as well.
const REGION_ALIGN: usize = 16;

impl<A: GlobalAlloc> CallArena<A> {
    /// # Safety
    /// The arena must only ever be used from one thread (a component instance has one).
    pub const unsafe fn new(inner: A) -> Self {
        CallArena {
            inner,
            base: Cell::new(std::ptr::null_mut()),
            size: Cell::new(0),
            next: Cell::new(0),
            open: Cell::new(false),
        }
    }

    /// Serve allocations from a region of at least `bytes` until `close`, reusing the last
    /// call's region when it is large enough.
    ///
    /// # Safety
    /// Nothing allocated from the region since the last `open` may still be in use: it is
    /// all handed out again.
    pub unsafe fn open(&self, bytes: usize) {
        if self.size.get() < bytes {
            self.release();
            if let Ok(layout) = Layout::from_size_align(bytes, REGION_ALIGN) {
                let p = self.inner.alloc(layout);
                // no region at all when the memory is not there: everything then comes
                // from the inner allocator, as it would without the arena
                if !p.is_null() {
                    self.base.set(p);
                    self.size.set(bytes);
                }
            }
        }
        self.next.set(0);
        self.open.set(true);
    }

    /// Serve allocations from the inner allocator again. What the region handed out stays
    /// valid until the next `open`.
    pub fn close(&self) {
        self.open.set(false);
    }

    /// How much of the region the current (or last) call used.
    pub fn used(&self) -> usize {
        self.next.get()
    }

    /// Give the region back to the inner allocator, so that its memory can serve calls
    /// that do not use it (a `pull-page` reading the next page); the next `open` takes a
    /// region again.
    ///
    /// # Safety
    /// As for `open`: nothing allocated from the region may still be in use.
    pub unsafe fn release(&self) {
        if self.size.get() > 0 {
            let layout = Layout::from_size_align_unchecked(self.size.get(), REGION_ALIGN);
            self.inner.dealloc(self.base.get(), layout);
        }
        self.base.set(std::ptr::null_mut());
        self.size.set(0);
        self.next.set(0);
    }

    /// The offset of `p` in the region, if it is in it.
    fn offset(&self, p: *mut u8) -> Option<usize> {
        let offset = (p as usize).wrapping_sub(self.base.get() as usize);
        (offset < self.size.get()).then_some(offset)
    }

    fn owns(&self, p: *mut u8) -> bool {
        self.offset(p).is_some()
    }

    /// `layout` from the region, or `None` when it is closed or full.
    fn bump(&self, layout: Layout) -> Option<*mut u8> {
        if !self.open.get() || layout.size() == 0 {
            return None;
        }
        // aligned as an address: the region itself is only REGION_ALIGN-aligned
        let base = self.base.get() as usize;
        let at = (base + self.next.get()).checked_add(layout.align() - 1)? & !(layout.align() - 1);
        let start = at - base;
        let end = start.checked_add(layout.size())?;
        if end > self.size.get() {
            return None;
        }
        self.next.set(end);
        // SAFETY: `start..end` lies in the region
        Some(unsafe { self.base.get().add(start) })
    }
}

unsafe impl<A: GlobalAlloc> GlobalAlloc for CallArena<A> {
    // not inlined: every drop in the component would carry a copy
    #[inline(never)]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        match self.bump(layout) {
            Some(p) => p,
            None => self.inner.alloc(layout),
        }
    }

    // not inlined: every drop in the component would carry a copy
    #[inline(never)]
    unsafe fn dealloc(&self, p: *mut u8, layout: Layout) {
        // the region is given back whole, at the next `open`
        if !self.owns(p) {
            self.inner.dealloc(p, layout)
        }
    }

    // not inlined: every drop in the component would carry a copy
    #[inline(never)]
    unsafe fn realloc(&self, p: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if !self.owns(p) {
            return self.inner.realloc(p, layout, new_size);
        }
        let start = self.offset(p).unwrap_or_default();
        // the last allocation grows or shrinks in place while the region is open
        if self.open.get() && start + layout.size() == self.next.get() {
            if let Some(end) = start
                .checked_add(new_size)
                .filter(|e| *e <= self.size.get())
            {
                self.next.set(end);
                return p;
            }
        } else if new_size <= layout.size() {
            return p;
        }
        let new = Layout::from_size_align_unchecked(new_size, layout.align());
        let q = self.alloc(new);
        if !q.is_null() {
            std::ptr::copy_nonoverlapping(p, q, layout.size().min(new_size));
        }
        q
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::alloc::System;

    /// `System`, counting the bytes it has out, and able to refuse.
    struct Counting {
        out: Cell<usize>,
        refuse: Cell<bool>,
    }

    unsafe impl GlobalAlloc for Counting {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            if self.refuse.get() {
                return std::ptr::null_mut();
            }
            self.out.set(self.out.get() + layout.size());
            System.alloc(layout)
        }
        unsafe fn dealloc(&self, p: *mut u8, layout: Layout) {
            self.out.set(self.out.get() - layout.size());
            System.dealloc(p, layout)
        }
    }

    fn arena() -> CallArena<Counting> {
        // SAFETY: each test uses its arena from its own thread only.
        unsafe {
            CallArena::new(Counting {
                out: Cell::new(0),
                refuse: Cell::new(false),
            })
        }
    }

    fn layout(size: usize, align: usize) -> Layout {
        Layout::from_size_align(size, align).unwrap()
    }

    #[test]
    fn an_open_region_bumps_and_ignores_frees_until_it_is_reopened() {
        let a = arena();
        unsafe {
            a.open(1024);
            assert_eq!(
                a.inner.out.get(),
                1024,
                "one region from the inner allocator"
            );
            let p = a.alloc(layout(10, 1));
            let q = a.alloc(layout(8, 8));
            assert!(a.owns(p) && a.owns(q));
            assert_eq!(q as usize % 8, 0);
            assert_eq!(q as usize, (p as usize + 10 + 7) & !7, "bumped, aligned");
            a.dealloc(p, layout(10, 1));
            let r = a.alloc(layout(4, 1));
            assert_eq!(
                r as usize,
                q as usize + 8,
                "a free gives nothing back before `open`"
            );
            assert_eq!(a.used(), r as usize + 4 - a.base.get() as usize);
            a.close();
            // closed: the inner allocator serves, and frees of region memory stay no-ops
            let s = a.alloc(layout(16, 1));
            assert!(!a.owns(s));
            assert_eq!(a.inner.out.get(), 1024 + 16);
            a.dealloc(q, layout(8, 8));
            a.dealloc(s, layout(16, 1));
            assert_eq!(a.inner.out.get(), 1024);
            // reopened no larger: the same region, from its start
            a.open(512);
            assert_eq!(a.alloc(layout(1, 1)), a.base.get());
            assert_eq!(a.inner.out.get(), 1024);
            // larger: the old region goes back, a new one comes
            a.open(4096);
            assert_eq!(a.inner.out.get(), 4096);
            a.close();
            a.release();
            assert_eq!(a.inner.out.get(), 0);
        }
    }

    #[test]
    fn a_full_region_or_none_at_all_falls_back_to_the_inner_allocator() {
        let a = arena();
        unsafe {
            a.open(64);
            let p = a.alloc(layout(60, 1));
            assert!(a.owns(p));
            let q = a.alloc(layout(8, 1));
            assert!(!a.owns(q), "does not fit: from the inner allocator");
            a.dealloc(q, layout(8, 1));
            assert_eq!(a.inner.out.get(), 64);
            a.close();
            a.release();
            // the inner allocator cannot give a region: everything comes from it
            a.inner.refuse.set(true);
            a.open(1 << 20);
            a.inner.refuse.set(false);
            let r = a.alloc(layout(8, 1));
            assert!(!a.owns(r));
            a.dealloc(r, layout(8, 1));
            assert_eq!(a.inner.out.get(), 0);
            // an impossible size is no region either
            a.open(usize::MAX);
            assert_eq!(a.size.get(), 0);
        }
    }

    #[test]
    fn realloc_grows_the_last_allocation_in_place_and_copies_the_others() {
        let a = arena();
        unsafe {
            a.open(256);
            let p = a.alloc(layout(4, 1));
            p.copy_from(b"abcd".as_ptr(), 4);
            let p2 = a.realloc(p, layout(4, 1), 32);
            assert_eq!(p2, p, "the last allocation grows in place");
            assert_eq!(a.used(), 32);
            let q = a.alloc(layout(4, 1));
            let p3 = a.realloc(p2, layout(32, 1), 64);
            assert_ne!(p3, p2, "not the last any more: moved");
            assert!(a.owns(p3));
            assert_eq!(std::slice::from_raw_parts(p3, 4), b"abcd");
            assert_eq!(a.realloc(q, layout(4, 1), 2), q, "shrinking never moves");
            // growing past the region's end moves to the inner allocator, contents kept
            let big = a.realloc(p3, layout(64, 1), 1000);
            assert!(!a.owns(big));
            assert_eq!(std::slice::from_raw_parts(big, 4), b"abcd");
            a.close();
            // closed: region memory moves out when it grows
            let q2 = a.realloc(q, layout(2, 1), 100);
            assert!(!a.owns(q2));
            a.dealloc(big, layout(1000, 1));
            a.dealloc(q2, layout(100, 1));
            assert_eq!(a.inner.out.get(), 256);
            a.release();
            assert_eq!(a.inner.out.get(), 0);
        }
    }
}
