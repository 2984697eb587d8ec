//! A small JSON (RFC 8259) reader and writer for the few fixed shapes this connector reads
//! and writes. It stands in for serde/serde_json, whose generic machinery was most of the
//! WebAssembly component.
//!
//! Reading streams: callers walk objects and arrays with callbacks and take the scalars they
//! expect, so nothing is built that is not kept. The rules are those of serde_json with
//! `#[derive(Deserialize)]`: unknown fields are ignored, a repeated field is an error, an
//! absent or `null` optional field is `None`, integers must be whole numbers in range,
//! strings must be valid (known escapes, paired surrogates, no raw control characters), and
//! only whitespace may follow the document.

use std::borrow::Cow;

/// Set in the mask `fields` returns when the struct came as an array, where serde requires
/// every field without a default, `Option`s included.
pub const SEQ: u64 = 1 << 63;

/// Deepest nesting a strict parse accepts (as `serde_json::Value`).
const MAX_DEPTH: usize = 128;

/// One step of the path to a bad value.
enum Seg {
    Key(String),
    Index(usize),
}

/// What is wrong with a document.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// The document ends early.
    Eof,
    /// The document is not JSON.
    Syntax,
    /// A value has the wrong type or is out of range.
    Type {
        expected: &'static str,
        found: &'static str,
    },
    /// A required field is absent.
    Missing,
    /// A field occurs twice in one object.
    Duplicate,
}

/// A scalar value read by `Parser::flat_object`.
pub enum Flat<'a> {
    Null,
    Bool(bool),
    Uint(u64),
    /// A string without escapes, as it is in the document.
    Str(&'a str),
}

/// What `Parser::flat_object` learnt from the objects it read before with the same field
/// list: the key of each member position, and which field it is. The rows of one array
/// share their key order, so after the first row a key costs one comparison instead of a
/// search of the field list.
#[derive(Default)]
pub struct Shape<'a> {
    /// At most `SHAPE_MEMBERS`.
    members: Vec<(&'a str, Option<usize>)>,
}

/// How many member positions a `Shape` remembers (a usage row has 13).
const SHAPE_MEMBERS: usize = 32;

/// A parse error: its kind, the byte offset and the path of the value at fault.
pub struct Error {
    pub kind: Kind,
    pos: usize,
    /// Innermost step first.
    path: Vec<Seg>,
}

impl Error {
    /// The document is not (complete) JSON, as opposed to JSON of an unexpected shape.
    pub fn is_syntax(&self) -> bool {
        matches!(self.kind, Kind::Eof | Kind::Syntax)
    }

    /// The input ended inside a value: the body was cut off.
    pub fn is_eof(&self) -> bool {
        self.kind == Kind::Eof
    }

    /// The path of the value at fault, e.g. `data[0].results[1].input_tokens`; `$` for the
    /// document itself.
    pub fn path(&self) -> String {
        let mut out = String::new();
        for seg in self.path.iter().rev() {
            match seg {
                Seg::Key(k) => {
                    if !out.is_empty() {
                        out.push('.');
                    }
                    out.push_str(k);
                }
                Seg::Index(i) => {
                    out.push('[');
                    push_uint(&mut out, *i as u64);
                    out.push(']');
                }
            }
        }
        if out.is_empty() {
            out.push('$');
        }
        out
    }

    /// Name the innermost key `to` if it is `from` (an alias reported under its field).
    pub fn rename_key(mut self, from: &str, to: &str) -> Self {
        if let Some(Seg::Key(k)) = self.path.last_mut() {
            if k == from {
                *k = to.into();
            }
        }
        self
    }

    /// What is wrong, in words; syntax errors say where in `doc` (the parsed text).
    pub fn message(&self, doc: &str) -> String {
        let (what, found) = match self.kind {
            Kind::Eof | Kind::Syntax => {
                let upto = &doc.as_bytes()[..(self.pos + 1).min(doc.len())];
                let line_start = upto.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
                let line = 1 + upto[..line_start].iter().filter(|&&b| b == b'\n').count();
                let mut m = String::from(if self.kind == Kind::Eof {
                    "truncated"
                } else {
                    "syntax error"
                });
                m.push_str(" at line ");
                push_uint(&mut m, line as u64);
                m.push_str(" column ");
                push_uint(&mut m, (upto.len() - line_start) as u64);
                return m;
            }
            Kind::Type { expected, found } => (expected, found),
            Kind::Missing | Kind::Duplicate => {
                let mut m = String::from(if self.kind == Kind::Missing {
                    "missing field `"
                } else {
                    "duplicate field `"
                });
                if let Some(Seg::Key(k)) = self.path.first() {
                    m.push_str(k);
                }
                m.push('`');
                return m;
            }
        };
        let mut m = String::from("invalid type: ");
        m.push_str(found);
        m.push_str(", expected ");
        m.push_str(what);
        m
    }
}

/// Parse all of `doc` with `read`; only whitespace may follow the value it reads.
pub fn parse<'a, T>(
    doc: &'a str,
    read: impl FnOnce(&mut Parser<'a>) -> Result<T, Error>,
) -> Result<T, Error> {
    let mut p = Parser::new(doc);
    let v = read(&mut p)?;
    p.end()?;
    Ok(v)
}

/// A cursor over one JSON document.
pub struct Parser<'a> {
    s: &'a str,
    pos: usize,
    depth: usize,
    /// Skipped values are checked as strictly as read ones and nest at most 127 deep (the
    /// rules of `serde_json::Value`); otherwise skipping only checks the syntax.
    strict: bool,
}

impl<'a> Parser<'a> {
    pub fn new(s: &'a str) -> Self {
        Parser {
            s,
            pos: 0,
            depth: 0,
            strict: false,
        }
    }

    /// A parser whose skipped values must be valid too, as when parsing into a generic tree.
    pub fn strict(s: &'a str) -> Self {
        Parser {
            strict: true,
            ..Parser::new(s)
        }
    }

    fn at(&self) -> Option<u8> {
        self.s.as_bytes().get(self.pos).copied()
    }

    /// The next significant byte, after whitespace.
    pub fn peek(&mut self) -> Option<u8> {
        while let Some(b' ' | b'\n' | b'\t' | b'\r') = self.at() {
            self.pos += 1;
        }
        self.at()
    }

    fn fail(&self, kind: Kind) -> Error {
        Error {
            kind,
            pos: self.pos,
            path: Vec::new(),
        }
    }

    /// A syntax error at the current byte (or the end of the document).
    fn bad(&self) -> Error {
        self.fail(if self.pos >= self.s.len() {
            Kind::Eof
        } else {
            Kind::Syntax
        })
    }

    /// Error for a field that occurs twice.
    pub fn duplicate(&self) -> Error {
        self.fail(Kind::Duplicate)
    }

    /// Error for a value of the wrong type; a byte that starts no value is a syntax error.
    fn wrong(&mut self, expected: &'static str) -> Error {
        let found = match self.peek() {
            Some(b'"') => "a string",
            Some(b'{') => "an object",
            Some(b'[') => "an array",
            Some(b't' | b'f') => "a boolean",
            Some(b'n') => "null",
            Some(b'-' | b'0'..=b'9') => "a number",
            _ => return self.bad(),
        };
        self.fail(Kind::Type { expected, found })
    }

    fn eat(&mut self, c: u8) -> Result<(), Error> {
        if self.peek() == Some(c) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.bad())
        }
    }

    /// Only whitespace may remain.
    pub fn end(&mut self) -> Result<(), Error> {
        match self.peek() {
            None => Ok(()),
            Some(_) => Err(self.fail(Kind::Syntax)),
        }
    }

    fn word(&mut self, w: &[u8]) -> Result<(), Error> {
        for &c in w {
            if self.at() != Some(c) {
                return Err(self.bad());
            }
            self.pos += 1;
        }
        Ok(())
    }

    /// Consume a `null` if one is next.
    pub fn null(&mut self) -> Result<bool, Error> {
        if self.peek() == Some(b'n') {
            self.word(b"null")?;
            Ok(true)
        } else {
            Ok(false)
        }
    }

    pub fn bool(&mut self) -> Result<bool, Error> {
        match self.peek() {
            Some(b't') => self.word(b"true").map(|_| true),
            Some(b'f') => self.word(b"false").map(|_| false),
            _ => Err(self.wrong("a boolean")),
        }
    }

    pub fn opt_bool(&mut self) -> Result<Option<bool>, Error> {
        if self.null()? {
            Ok(None)
        } else {
            self.bool().map(Some)
        }
    }

    fn digits(&mut self) -> Result<(), Error> {
        let start = self.pos;
        while let Some(b'0'..=b'9') = self.at() {
            self.pos += 1;
        }
        if self.pos == start {
            Err(self.bad())
        } else {
            Ok(())
        }
    }

    /// Read a number: whether it is negative, and its magnitude if it is a whole number
    /// (no fraction or exponent) that fits in a `u64`.
    fn number(&mut self) -> Result<(bool, Option<u64>), Error> {
        self.peek();
        let neg = self.at() == Some(b'-');
        if neg {
            self.pos += 1;
        }
        let mut v = Some(0u64);
        match self.at() {
            Some(b'0') => {
                self.pos += 1;
                if let Some(b'0'..=b'9') = self.at() {
                    return Err(self.fail(Kind::Syntax));
                }
            }
            Some(b'1'..=b'9') => {
                let b = self.s.as_bytes();
                let start = self.pos;
                let n;
                (self.pos, n) = decimal_run(b, start);
                // 19 digits always fit in a u64; 20 may; more never do
                v = match self.pos - start {
                    0..=19 => Some(n),
                    20 => b[start..self.pos].iter().try_fold(0u64, |v, &c| {
                        v.checked_mul(10)?.checked_add((c - b'0') as u64)
                    }),
                    _ => None,
                };
            }
            _ => return Err(self.bad()),
        }
        if self.at() == Some(b'.') {
            self.pos += 1;
            v = None;
            self.digits()?;
        }
        if let Some(b'e' | b'E') = self.at() {
            self.pos += 1;
            v = None;
            if let Some(b'+' | b'-') = self.at() {
                self.pos += 1;
            }
            self.digits()?;
        }
        Ok((neg, v))
    }

    /// A whole number in `min..=max` (`min` is 0 or `i64::MIN`).
    fn int(&mut self, expected: &'static str, unsigned: bool) -> Result<i128, Error> {
        if !matches!(self.peek(), Some(b'-' | b'0'..=b'9')) {
            return Err(self.wrong(expected));
        }
        let start = self.pos;
        let v = match self.number()? {
            (false, Some(v)) if unsigned || v <= i64::MAX as u64 => Some(v as i128),
            // `-0` is a float to serde_json, hence `1..`
            (true, Some(v @ 1..=0x8000_0000_0000_0000)) if !unsigned => Some(-(v as i128)),
            _ => None,
        };
        v.ok_or_else(|| {
            let mut e = self.fail(Kind::Type {
                expected,
                found: "a number",
            });
            e.pos = start;
            e
        })
    }

    pub fn u64(&mut self) -> Result<u64, Error> {
        self.int("an unsigned integer", true).map(|v| v as u64)
    }

    pub fn u32(&mut self) -> Result<u32, Error> {
        let start = self.pos;
        let v = self.u64()?;
        u32::try_from(v).map_err(|_| {
            let mut e = self.fail(Kind::Type {
                expected: "an unsigned 32-bit integer",
                found: "a number",
            });
            e.pos = start;
            e
        })
    }

    pub fn i64(&mut self) -> Result<i64, Error> {
        self.int("an integer", false).map(|v| v as i64)
    }

    pub fn opt_u64(&mut self) -> Result<Option<u64>, Error> {
        if self.null()? {
            Ok(None)
        } else {
            self.u64().map(Some)
        }
    }

    pub fn opt_i64(&mut self) -> Result<Option<i64>, Error> {
        if self.null()? {
            Ok(None)
        } else {
            self.i64().map(Some)
        }
    }

    pub fn string(&mut self) -> Result<String, Error> {
        self.text().map(Cow::into_owned)
    }

    pub fn opt_string(&mut self) -> Result<Option<String>, Error> {
        if self.null()? {
            Ok(None)
        } else {
            self.string().map(Some)
        }
    }

    /// A string, borrowed from the document when it has no escapes: then it also needs no
    /// escaping when written back (see `Object::text`).
    pub fn text(&mut self) -> Result<Cow<'a, str>, Error> {
        if self.peek() != Some(b'"') {
            return Err(self.wrong("a string"));
        }
        self.pos += 1;
        self.str_body(true)
    }

    pub fn opt_text(&mut self) -> Result<Option<Cow<'a, str>>, Error> {
        if self.null()? {
            Ok(None)
        } else {
            self.text().map(Some)
        }
    }

    fn hex4(&mut self) -> Result<u32, Error> {
        let mut n = 0;
        for _ in 0..4 {
            let d = match self.at() {
                None => return Err(self.bad()),
                Some(c) => (c as char).to_digit(16),
            };
            n = n * 16 + d.ok_or_else(|| self.fail(Kind::Syntax))?;
            self.pos += 1;
        }
        Ok(n)
    }

    /// The rest of a string whose opening quote was read. With `validate`, `\u` escapes
    /// must form valid characters (paired surrogates); skipped values only need well-formed
    /// escapes.
    fn str_body(&mut self, validate: bool) -> Result<Cow<'a, str>, Error> {
        let s = self.s;
        let mut out: Option<String> = None;
        let mut start = self.pos;
        self.pos = plain_run(s.as_bytes(), self.pos);
        loop {
            match self.at() {
                None => return Err(self.bad()),
                Some(b'"') => {
                    let tail = &s[start..self.pos];
                    self.pos += 1;
                    return Ok(match out {
                        None => Cow::Borrowed(tail),
                        Some(mut o) => {
                            o.push_str(tail);
                            Cow::Owned(o)
                        }
                    });
                }
                Some(b'\\') => {
                    let o = out.get_or_insert_with(String::new);
                    o.push_str(&s[start..self.pos]);
                    self.pos += 1;
                    let e = self.at().ok_or_else(|| self.bad())?;
                    self.pos += 1;
                    let c = match e {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\x08',
                        b'f' => '\x0c',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => {
                            let mut n = self.hex4()?;
                            if validate {
                                if (0xDC00..=0xDFFF).contains(&n) {
                                    return Err(self.fail(Kind::Syntax));
                                }
                                if (0xD800..=0xDBFF).contains(&n) {
                                    self.word(b"\\u")?;
                                    let lo = self.hex4()?;
                                    if !(0xDC00..=0xDFFF).contains(&lo) {
                                        return Err(self.fail(Kind::Syntax));
                                    }
                                    n = 0x1_0000 + ((n - 0xD800) << 10) + (lo - 0xDC00);
                                }
                            }
                            char::from_u32(n).unwrap_or('\u{FFFD}')
                        }
                        _ => {
                            self.pos -= 1;
                            return Err(self.fail(Kind::Syntax));
                        }
                    };
                    o.push(c);
                    start = self.pos;
                }
                Some(0..=0x1f) => return Err(self.fail(Kind::Syntax)),
                Some(_) => self.pos = plain_run(s.as_bytes(), self.pos + 1),
            }
        }
    }

    fn enter(&mut self) -> Result<(), Error> {
        self.depth += 1;
        if self.depth >= MAX_DEPTH {
            return Err(self.fail(Kind::Syntax));
        }
        Ok(())
    }

    /// An object: `f(p, key)` must read (or `skip`) the value of each member.
    pub fn object(
        &mut self,
        f: &mut dyn FnMut(&mut Parser<'a>, &str) -> Result<(), Error>,
    ) -> Result<(), Error> {
        if self.peek() != Some(b'{') {
            return Err(self.wrong("an object"));
        }
        self.pos += 1;
        self.enter()?;
        if self.peek() == Some(b'}') {
            self.pos += 1;
        } else {
            loop {
                self.eat(b'"')?;
                let key = self.str_body(true)?;
                self.eat(b':')?;
                if let Err(mut e) = f(self, &key) {
                    e.path.push(Seg::Key(key.into_owned()));
                    return Err(e);
                }
                match self.peek() {
                    Some(b',') => self.pos += 1,
                    Some(b'}') => {
                        self.pos += 1;
                        break;
                    }
                    _ => return Err(self.bad()),
                }
            }
        }
        self.depth -= 1;
        Ok(())
    }

    /// The fast path for a flat object whose members are `fields` (unknown ones skipped):
    /// `f(i, value)` takes the value of `fields[i]` and says whether it has the right type.
    /// It covers the common form only: scalar values (`null`, booleans, unsigned integers
    /// of up to 19 digits, strings without escapes), each field at most once. On anything
    /// else it returns `false` with the parser where it was, and the general reader
    /// (`fields`) reads the value again, with its exact rules and errors. It exists because
    /// usage pages are hundreds of thousands of such objects. `shape` must only ever be
    /// used with this same `fields`.
    pub fn flat_object(
        &mut self,
        fields: &[&str],
        shape: &mut Shape<'a>,
        f: &mut impl FnMut(usize, Flat<'a>) -> bool,
    ) -> bool {
        let (s, b) = (self.s, self.s.as_bytes());
        let is_ws = |i: usize| matches!(b.get(i), Some(b' ' | b'\n' | b'\t' | b'\r'));
        // no loop entered when there is no whitespace, the usual case (each loop entry is
        // a preemption check in the component)
        let ws = |mut i: usize| {
            if is_ws(i) {
                while is_ws(i) {
                    i += 1;
                }
            }
            i
        };
        let mut i = ws(self.pos);
        if b.get(i) != Some(&b'{') {
            return false;
        }
        let (mut seen, mut next, mut member) = (0u64, 0usize, 0usize);
        i = ws(i + 1);
        if b.get(i) == Some(&b'}') {
            self.pos = i + 1;
            return true;
        }
        loop {
            // "key":
            if b.get(i) != Some(&b'"') {
                return false;
            }
            let k0 = i + 1;
            // the key this position had last time, if it is there again: a remembered key
            // is plain text, so the same bytes and a closing quote are that key whole
            let cached = shape.members.get(member).filter(|(known, _)| {
                let end = k0 + known.len();
                b.get(end) == Some(&b'"')
                    && b.get(k0..end)
                        .is_some_and(|k| same_bytes(k, known.as_bytes()))
            });
            let (key, cached) = match cached {
                Some(&(known, k)) => {
                    i = k0 + known.len();
                    (known, Some(k))
                }
                None => {
                    i = plain_run(b, k0);
                    if b.get(i) != Some(&b'"') {
                        return false;
                    }
                    (&s[k0..i], None)
                }
            };
            i = ws(i + 1);
            if b.get(i) != Some(&b':') {
                return false;
            }
            i = ws(i + 1);
            // the value
            let v = match b.get(i) {
                Some(b'"') => {
                    let v0 = i + 1;
                    i = plain_run(b, v0);
                    if b.get(i) != Some(&b'"') {
                        return false;
                    }
                    i += 1;
                    Flat::Str(&s[v0..i - 1])
                }
                Some(c @ b'0'..=b'9') => {
                    let d0 = i;
                    let n;
                    (i, n) = decimal_run(b, d0);
                    let leading_zero = *c == b'0' && i - d0 > 1;
                    if leading_zero || i - d0 > 19 || matches!(b.get(i), Some(b'.' | b'e' | b'E')) {
                        return false;
                    }
                    Flat::Uint(n)
                }
                Some(b'n') if b.get(i..i + 4) == Some(b"null") => {
                    i += 4;
                    Flat::Null
                }
                Some(b't') if b.get(i..i + 4) == Some(b"true") => {
                    i += 4;
                    Flat::Bool(true)
                }
                Some(b'f') if b.get(i..i + 5) == Some(b"false") => {
                    i += 5;
                    Flat::Bool(false)
                }
                _ => return false,
            };
            let field = match cached {
                Some(k) => k,
                None => {
                    let k = field_index(fields, next, key);
                    match shape.members.get_mut(member) {
                        Some(m) => *m = (key, k),
                        // only the first members: a hostile row with a million keys
                        // must not grow it
                        None if member < SHAPE_MEMBERS => shape.members.push((key, k)),
                        None => {}
                    }
                    k
                }
            };
            member += 1;
            if let Some(k) = field {
                if seen & (1 << k) != 0 || !f(k, v) {
                    return false;
                }
                seen |= 1 << k;
                next = k + 1;
            }
            i = ws(i);
            match b.get(i) {
                Some(b',') => i = ws(i + 1),
                Some(b'}') => {
                    self.pos = i + 1;
                    return true;
                }
                _ => return false,
            }
        }
    }

    /// A struct with known `fields` (in declaration order): `f(p, i)` reads the value of
    /// `fields[i]`. Returns the mask of fields seen, with `SEQ` set for the array form.
    /// See `record`.
    pub fn fields(
        &mut self,
        fields: &[&str],
        f: &mut dyn FnMut(&mut Parser<'a>, usize) -> Result<(), Error>,
    ) -> Result<u64, Error> {
        self.record(fields, fields.len(), f)
    }

    /// A struct as serde derives it: an object whose members are `fields` (unknown members
    /// are skipped, a repeated one is an error), or an array of the first `positional`
    /// fields in order (the rest being aliases); a longer array is an error.
    pub fn record(
        &mut self,
        fields: &[&str],
        positional: usize,
        f: &mut dyn FnMut(&mut Parser<'a>, usize) -> Result<(), Error>,
    ) -> Result<u64, Error> {
        let mut seen = 0u64;
        if self.peek() == Some(b'[') {
            self.array(&mut |p, i| {
                if i >= positional {
                    return Err(p.fail(Kind::Syntax));
                }
                seen |= 1 << i;
                f(p, i)
            })?;
            return Ok(seen | SEQ);
        }
        // Providers send fields in a fixed order: try the one after the last match first.
        let mut next = 0;
        self.object(&mut |p, k| match field_index(fields, next, k) {
            Some(i) => {
                next = i + 1;
                if seen & (1 << i) != 0 {
                    return Err(p.duplicate());
                }
                seen |= 1 << i;
                f(p, i)
            }
            None => p.skip(),
        })?;
        Ok(seen)
    }

    /// Error for the first of the `required` fields (a mask over `fields`) not in `seen`.
    pub fn require(&self, seen: u64, fields: &[&str], required: u64) -> Result<(), Error> {
        match (0..fields.len()).find(|i| required & !seen & (1 << i) != 0) {
            None => Ok(()),
            Some(i) => {
                let mut e = self.fail(Kind::Missing);
                e.path.push(Seg::Key(fields[i].into()));
                Err(e)
            }
        }
    }

    /// An array: `f(p, i)` must read element `i`.
    pub fn array(
        &mut self,
        f: &mut dyn FnMut(&mut Parser<'a>, usize) -> Result<(), Error>,
    ) -> Result<(), Error> {
        if self.peek() != Some(b'[') {
            return Err(self.wrong("an array"));
        }
        self.pos += 1;
        self.enter()?;
        if self.peek() == Some(b']') {
            self.pos += 1;
        } else {
            let mut i = 0;
            loop {
                if let Err(mut e) = f(self, i) {
                    e.path.push(Seg::Index(i));
                    return Err(e);
                }
                i += 1;
                match self.peek() {
                    Some(b',') => self.pos += 1,
                    Some(b']') => {
                        self.pos += 1;
                        break;
                    }
                    _ => return Err(self.bad()),
                }
            }
        }
        self.depth -= 1;
        Ok(())
    }

    /// A list of strings.
    pub fn strings(&mut self) -> Result<Vec<String>, Error> {
        let mut v = Vec::new();
        self.array(&mut |p, _| {
            v.push(p.string()?);
            Ok(())
        })?;
        Ok(v)
    }

    /// An object key and its colon, when skipping.
    fn skip_key(&mut self) -> Result<(), Error> {
        self.eat(b'"')?;
        self.str_body(self.strict)?;
        self.eat(b':')
    }

    /// Skip one value of any type (iteratively, so nesting cannot exhaust the stack).
    pub fn skip(&mut self) -> Result<(), Error> {
        // closing brackets of the containers we are in
        let mut open: Vec<u8> = Vec::new();
        loop {
            match self.peek() {
                Some(c @ (b'{' | b'[')) => {
                    self.pos += 1;
                    if self.strict {
                        self.enter()?;
                    }
                    let close = c + 2; // `{` → `}`, `[` → `]`
                    if self.peek() == Some(close) {
                        self.pos += 1;
                        if self.strict {
                            self.depth -= 1;
                        }
                    } else {
                        open.push(close);
                        if close == b'}' {
                            self.skip_key()?;
                        }
                        continue;
                    }
                }
                Some(b'"') => {
                    self.pos += 1;
                    self.str_body(self.strict)?;
                }
                Some(b't') => self.word(b"true")?,
                Some(b'f') => self.word(b"false")?,
                Some(b'n') => self.word(b"null")?,
                Some(b'-' | b'0'..=b'9') => {
                    let start = self.pos;
                    let (_, int) = self.number()?;
                    // not a u64: a float to `serde_json::Value`, which refuses infinities
                    if self.strict
                        && int.is_none()
                        && !parse_f64(&self.s[start..self.pos]).is_some_and(f64::is_finite)
                    {
                        self.pos = start;
                        return Err(self.fail(Kind::Syntax));
                    }
                }
                _ => return Err(self.bad()),
            }
            // after a value: close finished containers, or go on to the next element
            loop {
                let Some(&close) = open.last() else {
                    return Ok(());
                };
                match self.peek() {
                    Some(b',') => {
                        self.pos += 1;
                        if close == b'}' {
                            self.skip_key()?;
                        }
                        break;
                    }
                    Some(c) if c == close => {
                        self.pos += 1;
                        open.pop();
                        if self.strict {
                            self.depth -= 1;
                        }
                    }
                    _ => return Err(self.bad()),
                }
            }
        }
    }
}

/// A decimal number in the syntax of `str::parse::<f64>` (`[+-]` digits, optional `.` and
/// fraction, optional exponent; a superset of JSON numbers). `inf` and `nan` give `None`,
/// where `str::parse` gives non-finite values. Exactly `str::parse` (Clinger's fast path:
/// one correctly rounded operation on exact operands) for up to 15 significant digits and
/// exponents within ±22, which covers any sensible Retry-After value; within an ulp beyond.
/// It spares the component the standard library's general float parser and its tables.
pub fn parse_f64(s: &str) -> Option<f64> {
    let b = s.as_bytes();
    let (neg, b) = match b.first() {
        Some(b'-') => (true, &b[1..]),
        Some(b'+') => (false, &b[1..]),
        _ => (false, b),
    };
    let (mut m, mut exp, mut any, mut i) = (0u64, 0i64, false, 0);
    let mut frac = false;
    while i < b.len() {
        match b[i] {
            c @ b'0'..=b'9' => {
                any = true;
                if m < 1_000_000_000_000_000_000 {
                    m = m * 10 + (c - b'0') as u64;
                    exp -= frac as i64;
                } else {
                    exp += !frac as i64;
                }
            }
            b'.' if !frac => frac = true,
            _ => break,
        }
        i += 1;
    }
    if !any {
        return None;
    }
    if i < b.len() {
        if b[i] | 0x20 != b'e' {
            return None;
        }
        i += 1;
        let eneg = b.get(i) == Some(&b'-');
        if matches!(b.get(i), Some(b'-' | b'+')) {
            i += 1;
        }
        if i == b.len() {
            return None;
        }
        let mut e = 0i64;
        for &c in &b[i..] {
            if !c.is_ascii_digit() {
                return None;
            }
            e = (e * 10 + (c - b'0') as i64).min(1_000_000);
        }
        exp += if eneg { -e } else { e };
    }
    let mut x = m as f64;
    if m != 0 {
        // 10^k is exact in an f64 for k <= 22
        let pow10 = |k: i64| (0..k).fold(1.0f64, |p, _| p * 10.0);
        while exp > 22 {
            x *= 1e22;
            exp -= 22;
        }
        while exp < -22 {
            x /= 1e22;
            exp += 22;
        }
        x = if exp < 0 {
            x / pow10(-exp)
        } else {
            x * pow10(exp)
        };
    }
    Some(if neg { -x } else { x })
}

/// Append the decimal form of `v`.
pub fn push_int(out: &mut String, v: i64) {
    if v < 0 {
        out.push('-');
    }
    push_uint(out, v.unsigned_abs());
}

/// Append the decimal form of `n`, written in place. Numbers that fit in 32 bits (nearly
/// all token counts) are taken apart in 32-bit arithmetic: inside the component a 64-bit
/// division by ten is a hardware divide, a 32-bit one a multiplication.
pub fn push_uint(out: &mut String, n: u64) {
    let digits = n.checked_ilog10().unwrap_or(0) as usize + 1;
    if digits <= 8 {
        // all eight digits as one word, its leading zeros shifted out
        let ascii = (eight_digits(n as u32) + ONES * b'0' as u64) >> (8 * (8 - digits));
        out.reserve(8);
        // SAFETY: `reserve` made room for the eight bytes written; the length covers the
        // first `digits` of them, ASCII digits.
        unsafe {
            let v = out.as_mut_vec();
            let len = v.len();
            v.as_mut_ptr()
                .add(len)
                .cast::<[u8; 8]>()
                .write_unaligned(ascii.to_le_bytes());
            v.set_len(len + digits);
        }
        return;
    }
    out.reserve(digits);
    // SAFETY: the `digits` bytes written are ASCII digits, and the length covers exactly
    // them once they are written (`reserve` made the room).
    unsafe {
        let v = out.as_mut_vec();
        let len = v.len();
        let room = &mut v.spare_capacity_mut()[..digits];
        let (mut n, mut i) = (n, digits);
        while n > u64::from(u32::MAX) {
            i -= 1;
            room[i].write(b'0' + (n % 10) as u8);
            n /= 10;
        }
        let mut m = n as u32;
        while i > 0 {
            i -= 1;
            room[i].write(b'0' + (m % 10) as u8);
            m /= 10;
        }
        v.set_len(len + digits);
    }
}

/// JSON string escaping (RFC 8259): quotes, backslash and control characters.
pub fn escape_into(out: &mut String, s: &str) {
    out.push('"');
    let bytes = s.as_bytes();
    let mut start = 0;
    let mut i = plain_run(bytes, 0);
    while i < bytes.len() {
        let b = bytes[i];
        let esc: &str = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            // the other control characters (`plain_run` stops at nothing else)
            _ => "",
        };
        out.push_str(&s[start..i]);
        if esc.is_empty() {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.push_str("\\u00");
            out.push(HEX[(b >> 4) as usize] as char);
            out.push(HEX[(b & 15) as usize] as char);
        } else {
            out.push_str(esc);
        }
        start = i + 1;
        i = plain_run(bytes, start);
    }
    out.push_str(&s[start..]);
    out.push('"');
}

/// The end of the run of bytes from `i` that a JSON string holds as they are: the index of
/// the first `"`, `\` or control character, or `b.len()`. Eight bytes at a time, since
/// this scan is most of reading and writing JSON text.
#[inline(never)]
pub fn plain_run(b: &[u8], mut i: usize) -> usize {
    const HIGH: u64 = 0x8080_8080_8080_8080;
    while let Some(chunk) = b.get(i..i + 8) {
        let w = u64::from_le_bytes(chunk.try_into().unwrap_or_default());
        // a zero byte in x shows as a set high bit in (x - 1) & !x; the lowest one is exact
        let zero = |x: u64| x.wrapping_sub(ONES) & !x;
        let hit = (w.wrapping_sub(ONES * 0x20) & !w
            | zero(w ^ (ONES * b'"' as u64))
            | zero(w ^ (ONES * b'\\' as u64)))
            & HIGH;
        if hit != 0 {
            return i + (hit.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while let Some(&c) = b.get(i) {
        if c == b'"' || c == b'\\' || c < 0x20 {
            return i;
        }
        i += 1;
    }
    i
}

/// The end of the run of decimal digits from `i`, and their value modulo 2^64 (exact for
/// up to 19 digits). The first eight bytes are read as one word (a usage row holds about
/// twenty digits: inside the component a loop turn per digit cost more than the rest of
/// reading the number).
fn decimal_run(b: &[u8], mut i: usize) -> (usize, u64) {
    let mut n = 0u64;
    if let Some(chunk) = b.get(i..i + 8) {
        let w = u64::from_le_bytes(chunk.try_into().unwrap_or_default());
        let digits = leading_digits(w);
        if digits > 0 {
            n = digits_value(w, digits);
        }
        i += digits;
        if digits < 8 {
            return (i, n);
        }
    }
    while let Some(&c @ b'0'..=b'9') = b.get(i) {
        n = n.wrapping_mul(10).wrapping_add((c - b'0') as u64);
        i += 1;
    }
    (i, n)
}

const ONES: u64 = 0x0101_0101_0101_0101;

/// How many of the eight bytes of `w` (first byte lowest) are ASCII digits before the first
/// that is not. A byte is a digit when its high nibble is 3 both as it is and plus 6; a
/// carry out of a byte over 0xF9 only reaches bytes after the first non-digit.
fn leading_digits(w: u64) -> usize {
    const HIGH_NIBBLES: u64 = ONES * 0xF0;
    const THREES: u64 = ONES * 0x30;
    let not_digit =
        ((w & HIGH_NIBBLES) ^ THREES) | ((w.wrapping_add(ONES * 6) & HIGH_NIBBLES) ^ THREES);
    (not_digit.trailing_zeros() / 8) as usize
}

/// The value of the first `digits` (1 to 8) bytes of `w`, all ASCII digits, the first the
/// most significant: digit pairs, then pairs of pairs, then the two halves are combined
/// with a multiplication each. Borrows out of the bytes after the digits only move up,
/// and those bytes are shifted out.
fn digits_value(w: u64, digits: usize) -> u64 {
    let v = w.wrapping_sub(ONES * b'0' as u64) << (8 * (8 - digits));
    let v = v.wrapping_mul(10).wrapping_add(v >> 8);
    let low = (v & 0x0000_00FF_0000_00FF).wrapping_mul(100 + (1_000_000 << 32));
    let high = ((v >> 16) & 0x0000_00FF_0000_00FF).wrapping_mul(1 + (10_000 << 32));
    low.wrapping_add(high) >> 32
}

/// `n` (below 10^8) as eight decimal digits, one per byte, the most significant first
/// (lowest) and each 0 to 9: both halves are split in parallel, into pairs and then
/// digits, by multiplications in place of divisions.
fn eight_digits(n: u32) -> u64 {
    let merged = u64::from(n / 10_000) | (u64::from(n % 10_000) << 32);
    let hundreds = (merged.wrapping_mul(10_486) >> 20) & ((0x7F << 32) | 0x7F);
    let merged = hundreds | (merged.wrapping_sub(hundreds.wrapping_mul(100)) << 16);
    let tens = (merged.wrapping_mul(103) >> 10) & ((0xF << 48) | (0xF << 32) | (0xF << 16) | 0xF);
    tens | (merged.wrapping_sub(tens.wrapping_mul(10)) << 8)
}

/// `a == b`, comparing eight bytes at a time: inside the component `memcmp` is a byte
/// loop behind a call, and this comparison runs for every member of every usage row.
#[inline(always)]
pub fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    if n < 8 {
        // two overlapping 4-byte words, or the bytes of a shorter key
        let word = |s: &[u8], i: usize| {
            s.get(i..i + 4)
                .map(|w| u32::from_le_bytes(w.try_into().unwrap_or_default()))
        };
        return if n >= 4 {
            word(a, 0) == word(b, 0) && word(a, n - 4) == word(b, n - 4)
        } else {
            a.iter().zip(b).all(|(x, y)| x == y)
        };
    }
    let word = |s: &[u8], i: usize| {
        s.get(i..i + 8)
            .map(|w| u64::from_le_bytes(w.try_into().unwrap_or_default()))
    };
    // the words `push_short` copies: the first, the last and (over 16 bytes) the second
    // without a loop, since each loop is a preemption check in the component; up to 24
    // bytes (every usage key) that is all of them
    if word(a, 0) != word(b, 0) || word(a, n - 8) != word(b, n - 8) {
        return false;
    }
    if n > 16 && word(a, 8) != word(b, 8) {
        return false;
    }
    let mut i = 16;
    while i + 8 < n {
        if word(a, i) != word(b, i) {
            return false;
        }
        i += 8;
    }
    true
}

/// Where `key` is in `fields`, trying `fields[hint]` first.
#[inline(never)]
fn field_index(fields: &[&str], hint: usize, key: &str) -> Option<usize> {
    if fields.get(hint).is_some_and(|f| *f == key) {
        return Some(hint);
    }
    fields.iter().position(|f| *f == key)
}

/// `buf.push_str(s)`, with strings of 8 to 64 bytes (keys and ids) copied a word at a
/// time: inside the component a copy of unknown length is a call into the host
/// (`memory.copy`), which costs more than copying a few words.
#[inline]
pub fn push_short(buf: &mut String, s: &str) {
    let n = s.len();
    if !(8..=64).contains(&n) {
        buf.push_str(s);
        return;
    }
    buf.reserve(n);
    let len = buf.len();
    // SAFETY: `reserve` made room for `n` bytes after `len`. Every word read lies in `s`
    // (`i + 8 <= n`) and every word written in that room; together they write exactly
    // the bytes of `s`, valid UTF-8, before the length covers them.
    unsafe {
        let v = buf.as_mut_vec();
        let (src, dst) = (s.as_ptr(), v.as_mut_ptr().add(len));
        let copy = |i: usize| {
            dst.add(i)
                .cast::<[u8; 8]>()
                .write_unaligned(src.add(i).cast::<[u8; 8]>().read_unaligned())
        };
        // up to 24 bytes (keys, most ids) without a loop, as in `same_bytes`
        copy(0);
        copy(n - 8);
        if n > 16 {
            copy(8);
        }
        let mut i = 16;
        while i + 8 < n {
            copy(i);
            i += 8;
        }
        v.set_len(len + n);
    }
}

/// `s` as a JSON string, quotes included: how messages show a value they quote.
pub fn quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    escape_into(&mut out, s);
    out
}

/// A JSON object written field by field: payloads and cursors have fixed, flat shapes.
pub struct Object {
    buf: String,
}

impl Object {
    pub fn with_capacity(n: usize) -> Self {
        let mut buf = String::with_capacity(n);
        buf.push('{');
        Object { buf }
    }
    /// Write `"k":` and return the buffer for the value.
    pub fn key(&mut self, k: &str) -> &mut String {
        if self.buf.len() > 1 {
            self.buf.push(',');
        }
        self.buf.push('"');
        push_short(&mut self.buf, k);
        self.buf.push_str("\":");
        &mut self.buf
    }
    pub fn str(&mut self, k: &str, v: &str) {
        escape_into(self.key(k), v);
    }
    /// A string from `Parser::text`: one borrowed from the document had no escapes, so it
    /// needs none and is copied as it is.
    // The `Cow` itself is the point: borrowed means already clean.
    #[allow(clippy::ptr_arg)]
    pub fn text(&mut self, k: &str, v: &Cow<str>) {
        match v {
            Cow::Borrowed(v) => {
                let out = self.key(k);
                out.push('"');
                push_short(out, v);
                out.push('"');
            }
            Cow::Owned(v) => self.str(k, v),
        }
    }
    pub fn opt_text(&mut self, k: &str, v: &Option<Cow<str>>) {
        match v {
            Some(v) => self.text(k, v),
            None => self.null(k),
        }
    }
    pub fn opt_str(&mut self, k: &str, v: &Option<String>) {
        match v {
            Some(v) => self.str(k, v),
            None => self.null(k),
        }
    }
    pub fn num(&mut self, k: &str, v: u64) {
        push_uint(self.key(k), v);
    }
    pub fn int(&mut self, k: &str, v: i64) {
        push_int(self.key(k), v);
    }
    pub fn bool(&mut self, k: &str, v: bool) {
        self.key(k).push_str(if v { "true" } else { "false" });
    }
    pub fn null(&mut self, k: &str) {
        self.key(k).push_str("null");
    }
    pub fn finish(mut self) -> String {
        self.buf.push('}');
        self.buf
    }
    /// Continue in `buf` (e.g. the buffer of the previous object, see `finish_exact`) an
    /// object whose first members are `head` (from `into_head`).
    pub fn in_buffer(mut buf: String, head: &str) -> Self {
        buf.clear();
        buf.push_str(head);
        Object { buf }
    }
    /// The members written so far, to start other objects with (`in_buffer`).
    pub fn into_head(self) -> String {
        self.buf
    }
    /// The object as a string of exactly its length (which the component's caller takes as
    /// it is, where spare capacity would cost a reallocation), and the buffer for the next.
    pub fn finish_exact(mut self) -> (String, String) {
        self.buf.push('}');
        (self.buf.as_str().to_owned(), self.buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind<T>(r: Result<T, Error>) -> Kind {
        match r {
            Ok(_) => panic!("expected an error"),
            Err(e) => e.kind,
        }
    }

    #[test]
    fn scalars_follow_serde_json() {
        assert_eq!(parse(" 42 ", |p| p.u64()).ok(), Some(42));
        assert_eq!(
            parse("18446744073709551615", |p| p.u64()).ok(),
            Some(u64::MAX)
        );
        assert_eq!(
            parse("-9223372036854775808", |p| p.i64()).ok(),
            Some(i64::MIN)
        );
        assert!(matches!(
            kind(parse("18446744073709551616", |p| p.u64())),
            Kind::Type { .. }
        ));
        assert!(matches!(kind(parse("-1", |p| p.u64())), Kind::Type { .. }));
        assert!(matches!(kind(parse("-0", |p| p.i64())), Kind::Type { .. }));
        assert!(matches!(kind(parse("1.0", |p| p.u64())), Kind::Type { .. }));
        assert!(matches!(
            kind(parse("9223372036854775808", |p| p.i64())),
            Kind::Type { .. }
        ));
        assert_eq!(kind(parse("01", |p| p.u64())), Kind::Syntax);
        assert_eq!(kind(parse("1.", |p| p.u64())), Kind::Eof);
        assert_eq!(kind(parse("1 2", |p| p.u64())), Kind::Syntax);
        assert_eq!(
            parse(r#""a\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00""#, |p| p.string()).ok(),
            Some("a\"\\/\u{8}\u{c}\n\r\té😀".to_string())
        );
        assert_eq!(kind(parse(r#""\ud83d""#, |p| p.string())), Kind::Syntax);
        assert_eq!(kind(parse(r#""\ude00""#, |p| p.string())), Kind::Syntax);
        assert_eq!(kind(parse("\"a\u{1}\"", |p| p.string())), Kind::Syntax);
        assert_eq!(kind(parse(r#""\x""#, |p| p.string())), Kind::Syntax);
        // skipped strings only need well-formed escapes, as in serde_json
        assert!(parse(r#"{"x":["\ud83d"]}"#, |p| p.object(&mut |p, _| p.skip())).is_ok());
        // a struct may come as an array of its fields, as serde accepts
        let seen = parse("[1,null]", |p| {
            p.fields(&["a", "b", "c"], &mut |p, _| p.skip())
        });
        assert_eq!(seen.ok(), Some(0b11 | SEQ));
        assert_eq!(
            kind(parse("[1,2]", |p| p.record(
                &["a", "alias"],
                1,
                &mut |p, _| p.skip()
            ))),
            Kind::Syntax
        );
        // numbers a `serde_json::Value` cannot hold make a strict parse fail
        assert!(Parser::strict("[1e400]").skip().is_err());
        assert!(Parser::new("[1e400]").skip().is_ok());
        let mut strict = Parser::strict(r#"{"x":["\ud83d"]}"#);
        assert!(strict.object(&mut |p, _| p.skip()).is_err());
    }

    #[test]
    fn paths_and_nesting() {
        let doc = r#"{"a":[{"b":1},{"b":"x"}]}"#;
        let e = parse(doc, |p| {
            p.object(&mut |p, _| p.array(&mut |p, _| p.object(&mut |p, _| p.u64().map(|_| ()))))
        })
        .err()
        .unwrap();
        assert_eq!(e.path(), "a[1].b");
        assert_eq!(
            e.message(doc),
            "invalid type: a string, expected an unsigned integer"
        );
        let deep = "[".repeat(100_000);
        assert_eq!(kind(parse(&deep, |p| p.skip())), Kind::Eof);
        let nested = format!("{}{}", "[".repeat(200), "]".repeat(200));
        assert!(parse(&nested, |p| p.skip()).is_ok());
        let mut strict = Parser::strict(&nested);
        assert!(strict.skip().is_err());
        let e = parse(r#"{"a":1,"a":2}"#, |p| {
            p.fields(&["a"], &mut |p, _| p.skip())
        })
        .err()
        .unwrap();
        assert_eq!((e.kind, e.path()), (Kind::Duplicate, "a".to_string()));
        assert_eq!(
            kind(parse(r#"{"a":1,}"#, |p| p.object(&mut |p, _| p.skip()))),
            Kind::Syntax
        );
        assert_eq!(kind(parse("[1,]", |p| p.skip())), Kind::Syntax);
    }

    /// What the general reader makes of a scalar, in `Flat` terms (`None`: a value the fast
    /// path must not accept, such as a float, a negative number or an escaped string).
    fn general_scalar<'a>(p: &mut Parser<'a>) -> Result<Option<Flat<'a>>, Error> {
        Ok(match p.peek() {
            Some(b'n') => {
                p.null()?;
                Some(Flat::Null)
            }
            Some(b't' | b'f') => Some(Flat::Bool(p.bool()?)),
            Some(b'"') => match p.text()? {
                Cow::Borrowed(t) => Some(Flat::Str(t)),
                Cow::Owned(_) => None,
            },
            Some(b'0'..=b'9') => match p.number()? {
                (false, Some(n)) => Some(Flat::Uint(n)),
                _ => None,
            },
            _ => {
                p.skip()?;
                None
            }
        })
    }

    fn show(v: &Flat) -> String {
        match v {
            Flat::Null => "null".into(),
            Flat::Bool(b) => b.to_string(),
            Flat::Uint(n) => n.to_string(),
            Flat::Str(s) => format!("{s:?}"),
        }
    }

    #[test]
    fn push_uint_and_push_int_write_what_display_writes() {
        let mut rng = crate::fuzzing::Rng::new(3);
        let mut cases: Vec<u64> = vec![0, 9, 10, 99, 100, 99_999_999, 100_000_000, u64::MAX];
        cases.extend((0..64).flat_map(|b| [1u64 << b, (1u64 << b) - 1, 10u64.pow(b % 20)]));
        cases.extend((1..20).flat_map(|k| [10u64.pow(k) - 1, 10u64.pow(k) + 1]));
        let (small, random) = if cfg!(miri) {
            (1_000, 100)
        } else {
            (100_000, 10_000)
        };
        cases.extend(0..small);
        cases.extend((0..random).map(|_| rng.next_u64() >> rng.below(64)));
        for n in cases {
            let mut s = String::from("x");
            push_uint(&mut s, n);
            assert_eq!(s, format!("x{n}"));
            let i = n as i64;
            let mut s = String::new();
            push_int(&mut s, i);
            assert_eq!(s, i.to_string());
        }
    }

    /// The word-at-a-time digit reader agrees with reading a digit at a time, whatever
    /// follows the digits (bytes over 0xF9 included) and however near the end they are.
    #[test]
    fn decimal_run_agrees_with_a_digit_at_a_time() {
        let reference = |b: &[u8], mut i: usize| {
            let mut n = 0u64;
            while let Some(&c @ b'0'..=b'9') = b.get(i) {
                n = n.wrapping_mul(10).wrapping_add((c - b'0') as u64);
                i += 1;
            }
            (i, n)
        };
        let mut rng = crate::fuzzing::Rng::new(5);
        let tails: &[u8] = &[
            b',', b'}', b'"', b'.', b'e', b' ', b'/', b':', 0, 0x2F, 0x3A, 0xFA, 0xFF,
        ];
        for _ in 0..50_000 {
            let mut b = vec![b'x'; rng.below(3)];
            let start = b.len();
            b.extend((0..rng.below(25)).map(|_| b'0' + rng.below(10) as u8));
            b.extend((0..rng.below(10)).map(|_| match rng.below(3) {
                0 => *rng.pick(tails),
                1 => rng.below(256) as u8,
                _ => b'0' + rng.below(10) as u8,
            }));
            assert_eq!(decimal_run(&b, start), reference(&b, start), "{b:?}");
        }
    }

    /// `same_bytes` is `==`, at every length, whichever byte differs.
    #[test]
    fn same_bytes_is_equality() {
        let mut rng = crate::fuzzing::Rng::new(6);
        for n in 0..40usize {
            let a: Vec<u8> = (0..n).map(|_| rng.below(256) as u8).collect();
            assert!(same_bytes(&a, &a.clone()));
            if n > 0 {
                assert!(!same_bytes(&a, &a[..n - 1]));
            }
            for i in 0..n {
                let mut b = a.clone();
                b[i] ^= 1 << rng.below(8);
                assert!(!same_bytes(&a, &b), "length {n}, byte {i}");
            }
        }
    }

    /// `push_short` appends what `push_str` appends, at every length and capacity.
    #[test]
    fn push_short_is_push_str() {
        let text = "key_4B84ObLRa5UkrGQ7 proj_é1InjUbHRRKZ57 ✓ECawXmkhwFv gpt-5.1-codex-mini ";
        let text = text.repeat(2);
        // (fewer cases under Miri, which checks the unsafe copies)
        let step = if cfg!(miri) { 13 } else { 1 };
        for start in (0..text.len()).step_by(step) {
            for end in start..text.len() {
                let Some(s) = text.get(start..end) else {
                    continue;
                };
                for head in ["", "{\"a\":"] {
                    let (mut a, mut b) = (String::from(head), String::from(head));
                    a.shrink_to_fit();
                    push_short(&mut a, s);
                    b.push_str(s);
                    assert_eq!(a, b);
                }
            }
        }
    }

    /// A row with more members than a `Shape` remembers is still read right, twice, and
    /// the shape stays bounded.
    #[test]
    fn a_shape_remembers_only_the_first_members() {
        let mut doc = String::from("{");
        for i in 0..100 {
            doc.push_str(&format!("\"k{i}\":{i},"));
        }
        doc.push_str("\"n\":7}");
        let both = format!("{doc} {doc}");
        let (mut shape, mut p) = (Shape::default(), Parser::new(&both));
        for _ in 0..2 {
            let mut got = Vec::new();
            assert!(p.flat_object(&["k50", "n"], &mut shape, &mut |i, v| {
                got.push((i, show(&v)));
                true
            }));
            assert_eq!(got, [(0, "50".to_string()), (1, "7".to_string())]);
        }
        assert_eq!(shape.members.len(), SHAPE_MEMBERS);
    }

    /// The fast path accepts only what the general reader reads the same way, and leaves
    /// the parser untouched when it declines.
    #[test]
    fn flat_object_agrees_with_the_general_reader() {
        const FIELDS: [&str; 4] = ["a", "bb", "user_id", "n"];
        let seeds = [
            r#"{"object":"x","a":1,"bb":"t","user_id":null,"n":true}"#,
            r#" { "n" : false , "a" : 18446744073709551615 , "bb" : "éA" } "#,
            r#"{"a":0,"a":1}"#,
            r#"{}"#,
            r#"{"bb":"x","other":[1,{"y":2}],"n":null}"#,
        ];
        let alphabet = b"{}[]\",:\\ 0123456789.eE-+nultrfasx\x01\t";
        let mut rng = crate::fuzzing::Rng::new(11);
        let (mut accepted, mut declined) = (0, 0);
        for _ in 0..200_000 {
            let mut doc: Vec<u8> = rng.pick(&seeds).as_bytes().to_vec();
            for _ in 0..1 + rng.below(3) {
                let at = rng.below(doc.len() + 1);
                let c = *rng.pick(alphabet);
                match rng.below(3) {
                    0 => doc.insert(at, c),
                    1 if at < doc.len() => doc[at] = c,
                    _ if at < doc.len() => {
                        doc.remove(at);
                    }
                    _ => {}
                }
            }
            let Ok(doc) = String::from_utf8(doc) else {
                continue;
            };
            // read after an unmutated seed, so that the keys the seed taught `shape` meet
            // the mutated ones
            let seed = rng.pick(&seeds);
            let both = format!("{seed}{doc}");
            let mut shape = Shape::default();
            let mut p = Parser::new(&both);
            if !p.flat_object(&FIELDS, &mut shape, &mut |_, _| true) {
                p.pos = seed.len(); // a seed the fast path declines still teaches it keys
            }
            let start = p.pos;
            let mut fast = Vec::new();
            let ok = p.flat_object(&FIELDS, &mut shape, &mut |i, v| {
                fast.push((i, show(&v)));
                true
            });
            if !ok {
                declined += 1;
                assert_eq!(p.pos, start, "declined but moved: {doc}");
                continue;
            }
            accepted += 1;
            let mut general = Vec::new();
            let mut g = Parser::new(&doc);
            let read = g.fields(&FIELDS, &mut |p, i| {
                let v = general_scalar(p)?;
                general.push((i, v.as_ref().map(show)));
                Ok(())
            });
            assert!(
                read.is_ok(),
                "fast accepted what the general reader refuses: {doc}"
            );
            let general: Vec<(usize, String)> = general
                .into_iter()
                .map(|(i, v)| {
                    (
                        i,
                        v.unwrap_or_else(|| panic!("fast accepted field {i} of {doc}")),
                    )
                })
                .collect();
            assert_eq!(fast, general, "{doc}");
            assert_eq!(p.pos - start, g.pos, "{doc}");
        }
        assert!(
            accepted > 10_000 && declined > 10_000,
            "{accepted} {declined}"
        );
    }

    #[test]
    fn writer() {
        let mut o = Object::with_capacity(8);
        o.int("a", -12);
        o.str("b", "x\"\u{1}");
        o.null("c");
        assert_eq!(o.finish(), r#"{"a":-12,"b":"x\"\u0001","c":null}"#);
    }
}
