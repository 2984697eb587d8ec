//! The records of one `normalize` call, lifted from the component's memory into one text
//! buffer.
//!
//! Lifting `list<normalized-record>` the generic way allocates three `String`s per record
//! (and frees them again once stored): for a page of usage rows that was a third of the
//! time the host spent on `normalize`. `Records` copies the strings' bytes into one buffer,
//! validates it as UTF-8 in one pass, and hands out `&str`s into it.
//!
//! Lifting is also where a hostile component could make the host allocate without bound
//! (a million records all pointing at one large string): like wasmtime's own lifting,
//! `Records` charges every byte it will copy to the store's hostcall fuel (128 MiB per
//! call) before copying any.

use std::ops::Range;
use wasmtime::component::__internal::wasmtime_environ::component::StringEncoding;
use wasmtime::component::__internal::{CanonicalAbiInfo, InstanceType, InterfaceType, LiftContext};
use wasmtime::component::{ComponentType, Lift};
use wasmtime::ValRaw;

use crate::sandbox::wit;

/// One record, borrowed from `Records`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecordRef<'a> {
    pub stream: &'a str,
    pub key: &'a str,
    pub schema_version: u32,
    pub payload: &'a str,
}

/// Where a record's strings are in `Records::text`.
#[derive(Clone, Debug)]
struct Spans {
    stream: Range<u32>,
    key: Range<u32>,
    schema_version: u32,
    payload: Range<u32>,
}

/// The records of one page, in the component's order.
#[derive(Clone, Debug, Default)]
pub struct Records {
    text: String,
    spans: Vec<Spans>,
    /// The largest `key.len() + payload.len()` of a record, for the host's record cap.
    largest: usize,
}

impl Records {
    pub fn len(&self) -> usize {
        self.spans.len()
    }
    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }
    /// The size of the largest record: its key and payload bytes.
    pub fn largest(&self) -> usize {
        self.largest
    }
    pub fn iter(&self) -> impl ExactSizeIterator<Item = RecordRef<'_>> + '_ {
        self.spans.iter().map(|s| self.record(s))
    }
    fn record(&self, s: &Spans) -> RecordRef<'_> {
        let text = |r: &Range<u32>| &self.text[r.start as usize..r.end as usize];
        RecordRef {
            stream: text(&s.stream),
            key: text(&s.key),
            schema_version: s.schema_version,
            payload: text(&s.payload),
        }
    }

    /// Copy the `len` records at `ptr` out of the component's memory, in the canonical
    /// ABI's layout of `normalized-record` (see `RECORD`).
    fn lift(cx: &mut LiftContext<'_>, ptr: usize, len: usize) -> wasmtime::Result<Records> {
        if !matches!(cx.options().string_encoding, StringEncoding::Utf8) {
            wasmtime::bail!("the component's strings are not UTF-8 encoded");
        }
        let memory = cx.memory();
        let size = RECORD.size32 as usize;
        let table = len
            .checked_mul(size)
            .and_then(|n| Some(ptr..ptr.checked_add(n)?))
            .and_then(|r| memory.get(r))
            .ok_or_else(|| wasmtime::format_err!("list pointer/length out of bounds of memory"))?;
        if !ptr.is_multiple_of(RECORD.align32 as usize) {
            wasmtime::bail!("list pointer is not aligned");
        }
        cx.consume_fuel_array(len, size)?;
        let string = |b: &[u8], at: usize| -> wasmtime::Result<Range<usize>> {
            let (p, n) = (word(b, at) as usize, word(b, at + 4) as usize);
            match p.checked_add(n) {
                Some(end) if end <= memory.len() => Ok(p..end),
                _ => wasmtime::bail!("string pointer/length out of bounds of memory"),
            }
        };
        // First pass: bounds, and the size of the buffer at most (every stream name counted,
        // though the second pass stores a name equal to the previous one once). It reads
        // only the list: touching each string here would be a cache miss per record.
        let (mut total, mut largest) = (0usize, 0usize);
        for r in table.chunks_exact(size) {
            let size = string(r, KEY)?.len() + string(r, PAYLOAD)?.len();
            largest = largest.max(size);
            total += size + string(r, STREAM)?.len();
        }
        cx.consume_fuel(total)?;
        if u32::try_from(total).is_err() {
            wasmtime::bail!("the records' strings are over 4 GiB");
        }
        let mut text = Vec::with_capacity(total);
        let mut spans = Vec::with_capacity(len);
        let copy = |text: &mut Vec<u8>, r: Range<usize>| {
            let start = text.len() as u32;
            text.extend_from_slice(&memory[r]);
            start..text.len() as u32
        };
        let mut stream_span: Range<u32> = 0..0;
        let mut last_stream: &[u8] = &[];
        for r in table.chunks_exact(size) {
            let s = string(r, STREAM)?;
            // (the first record's stream is copied unless empty: `0..0` is the empty one)
            if memory[s.clone()] != *last_stream {
                last_stream = &memory[s.clone()];
                stream_span = copy(&mut text, s);
            }
            spans.push(Spans {
                stream: stream_span.clone(),
                key: copy(&mut text, string(r, KEY)?),
                schema_version: word(r, SCHEMA_VERSION),
                payload: copy(&mut text, string(r, PAYLOAD)?),
            });
        }
        // One validation pass over the whole buffer; each string is then valid on its own
        // exactly when it starts and ends on a character boundary of the whole.
        let text = String::from_utf8(text)?;
        let on_boundaries = |r: &Range<u32>| {
            text.is_char_boundary(r.start as usize) && text.is_char_boundary(r.end as usize)
        };
        if !spans
            .iter()
            .all(|s| on_boundaries(&s.stream) && on_boundaries(&s.key) && on_boundaries(&s.payload))
        {
            wasmtime::bail!("invalid utf-8 in a record string");
        }
        Ok(Records {
            text,
            spans,
            largest,
        })
    }
}

/// The little-endian u32 at `b[at..at + 4]`: pointers, lengths and `schema-version`.
fn word(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// The canonical ABI layout of `normalized-record { stream, key: string,
/// schema-version: u32, payload: string }`: a string is a (pointer, length) pair of u32s.
const RECORD: CanonicalAbiInfo = <wit::NormalizedRecord as ComponentType>::ABI;
const STREAM: usize = 0;
const KEY: usize = 8;
const SCHEMA_VERSION: usize = 16;
const PAYLOAD: usize = 20;
const _: () = assert!(RECORD.size32 == 28 && RECORD.align32 == 4);

// SAFETY: `Records` is lifted from a `list<normalized-record>` — the type check delegates
// to the generated binding's — whose lowered form is a (pointer, length) pair.
unsafe impl ComponentType for Records {
    type Lower = [ValRaw; 2];
    const ABI: CanonicalAbiInfo = CanonicalAbiInfo::POINTER_PAIR;

    fn typecheck(ty: &InterfaceType, types: &InstanceType<'_>) -> wasmtime::Result<()> {
        <[wit::NormalizedRecord] as ComponentType>::typecheck(ty, types)
    }
}

// SAFETY: reads only through `LiftContext::memory`, with every range bounds-checked.
unsafe impl Lift for Records {
    fn linear_lift_from_flat(
        cx: &mut LiftContext<'_>,
        _ty: InterfaceType,
        src: &Self::Lower,
    ) -> wasmtime::Result<Self> {
        Records::lift(cx, src[0].get_u32() as usize, src[1].get_u32() as usize)
    }

    fn linear_lift_from_memory(
        cx: &mut LiftContext<'_>,
        _ty: InterfaceType,
        bytes: &[u8],
    ) -> wasmtime::Result<Self> {
        Records::lift(cx, word(bytes, 0) as usize, word(bytes, 4) as usize)
    }
}
