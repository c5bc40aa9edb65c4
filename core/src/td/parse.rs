//! Reading JSON text into a [`serde_json::Value`] with the guards a document from a peer needs: a
//! size limit, UTF-8 checking with the offset of the first bad byte, a nesting limit, and a record
//! of duplicate member names (which `serde_json` would silently collapse to the last one).

use std::fmt;
use std::io::Read;

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

/// The deepest nesting `serde_json` itself accepts; `max_depth` above this has no further effect.
pub const SERDE_JSON_DEPTH_LIMIT: usize = 127;

/// Limits applied while parsing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParseOptions {
    /// Largest accepted input, in bytes (default 16 MiB).
    pub max_bytes: usize,
    /// Deepest accepted nesting of arrays and objects (default 128; the top-level container is
    /// depth 1). `serde_json` refuses anything deeper than [`SERDE_JSON_DEPTH_LIMIT`] whatever this
    /// says.
    pub max_depth: usize,
}

impl Default for ParseOptions {
    fn default() -> Self {
        ParseOptions {
            max_bytes: 16 * 1024 * 1024,
            max_depth: 128,
        }
    }
}

impl ParseOptions {
    /// The nesting limit actually enforced.
    pub fn effective_max_depth(&self) -> usize {
        self.max_depth.min(SERDE_JSON_DEPTH_LIMIT)
    }
}

/// A member name that occurs more than once in the same JSON object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DuplicateMember {
    /// JSON pointer (RFC 6901) of the repeated member.
    pub pointer: String,
    /// The repeated name.
    pub name: String,
    /// 1-based line of the repeated occurrence.
    pub line: usize,
    /// 1-based column (in bytes) of the repeated occurrence.
    pub column: usize,
}

/// A parsed JSON document and what the parser noticed on the way.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedDocument {
    /// The document; of repeated members the last value is kept, as `serde_json` does.
    pub value: Value,
    /// Every repeated member name, in document order.
    pub duplicates: Vec<DuplicateMember>,
}

/// Why an input could not be read as JSON.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseFailure {
    /// The input is larger than [`ParseOptions::max_bytes`]; nothing of it was read.
    #[error("the document is {size} bytes, more than the limit of {limit} bytes")]
    TooLarge {
        /// Size of the input in bytes (for a stream: at least this many).
        size: usize,
        /// The configured limit.
        limit: usize,
    },
    /// The input is not UTF-8.
    #[error("the document is not UTF-8: invalid byte sequence at byte offset {offset}")]
    NotUtf8 {
        /// 0-based offset of the first byte that is not UTF-8.
        offset: usize,
    },
    /// The input is empty or only whitespace.
    #[error("the document is empty")]
    Empty,
    /// The input is not JSON.
    #[error("not valid JSON at line {line}, column {column}: {message}")]
    Json {
        /// 1-based line of the error.
        line: usize,
        /// Column of the error (in bytes, as `serde_json` counts).
        column: usize,
        /// What the parser expected.
        message: String,
    },
    /// Arrays and objects are nested deeper than the limit.
    #[error("nesting deeper than {limit} levels at line {line}, column {column}")]
    TooDeep {
        /// 1-based line where the limit was crossed.
        line: usize,
        /// Column where the limit was crossed.
        column: usize,
        /// The nesting limit enforced.
        limit: usize,
    },
    /// Reading the input failed.
    #[error("could not read the document: {message}")]
    Io {
        /// The I/O error.
        message: String,
    },
}

/// Reads at most `options.max_bytes` bytes from `reader`; a longer input is refused with
/// [`ParseFailure::TooLarge`] after reading one byte past the limit, never the whole stream.
pub fn read_limited<R: Read>(reader: R, options: &ParseOptions) -> Result<Vec<u8>, ParseFailure> {
    let cap = u64::try_from(options.max_bytes)
        .unwrap_or(u64::MAX)
        .saturating_add(1);
    let mut buffer = Vec::new();
    reader
        .take(cap)
        .read_to_end(&mut buffer)
        .map_err(|e| ParseFailure::Io {
            message: e.to_string(),
        })?;
    if buffer.len() > options.max_bytes {
        return Err(ParseFailure::TooLarge {
            size: buffer.len(),
            limit: options.max_bytes,
        });
    }
    Ok(buffer)
}

/// Parses `input` as one JSON document.
///
/// Checks, in order: the size limit (before looking at any byte), UTF-8 (a leading byte-order mark
/// is skipped), JSON syntax, the nesting limit. Repeated member names do not fail the parse; they
/// are listed in [`ParsedDocument::duplicates`].
///
/// ```
/// use lmos::td::parse::{parse_document, ParseOptions};
/// let doc = parse_document(br#"{"a": 1, "a": 2}"#, &ParseOptions::default()).unwrap();
/// assert_eq!(doc.value["a"], 2);
/// assert_eq!(doc.duplicates[0].pointer, "/a");
/// ```
pub fn parse_document(
    input: &[u8],
    options: &ParseOptions,
) -> Result<ParsedDocument, ParseFailure> {
    if input.len() > options.max_bytes {
        return Err(ParseFailure::TooLarge {
            size: input.len(),
            limit: options.max_bytes,
        });
    }
    let text = std::str::from_utf8(input).map_err(|e| ParseFailure::NotUtf8 {
        offset: e.valid_up_to(),
    })?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if text.trim_matches([' ', '\t', '\n', '\r']).is_empty() {
        return Err(ParseFailure::Empty);
    }

    let limit = options.effective_max_depth();
    let mut state = BuildState {
        path: Vec::new(),
        depth: 0,
        limit,
        too_deep: false,
        objects: 0,
        duplicates: Vec::new(),
    };
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let parsed = ValueSeed { state: &mut state }
        .deserialize(&mut deserializer)
        .and_then(|value| deserializer.end().map(|()| value));
    let value = match parsed {
        Ok(value) => value,
        Err(error) => {
            let deep = state.too_deep || error.to_string().starts_with("recursion limit exceeded");
            return Err(if state.too_deep {
                // Our guard fires right after the opening bracket was consumed; serde_json reports
                // the position after it, so step back onto the bracket.
                ParseFailure::TooDeep {
                    line: error.line(),
                    column: error.column().saturating_sub(1).max(1),
                    limit,
                }
            } else if deep {
                ParseFailure::TooDeep {
                    line: error.line(),
                    column: error.column(),
                    limit,
                }
            } else {
                ParseFailure::Json {
                    line: error.line(),
                    column: error.column(),
                    message: json_message(&error),
                }
            });
        }
    };

    let duplicates = if state.duplicates.is_empty() {
        Vec::new()
    } else {
        locate_duplicates(text, state.duplicates)
    };
    Ok(ParsedDocument { value, duplicates })
}

/// `serde_json`'s message without its trailing " at line L column C".
fn json_message(error: &serde_json::Error) -> String {
    let full = error.to_string();
    match full.rfind(" at line ") {
        Some(cut) => full[..cut].to_owned(),
        None => full,
    }
}

/// Escapes one reference token of a JSON pointer (RFC 6901).
pub fn escape_pointer_token(token: &str) -> String {
    if token.contains(['~', '/']) {
        token.replace('~', "~0").replace('/', "~1")
    } else {
        token.to_owned()
    }
}

enum Segment {
    Key(String),
    Index(usize),
}

fn pointer_of(path: &[Segment]) -> String {
    let mut pointer = String::new();
    for segment in path {
        pointer.push('/');
        match segment {
            Segment::Key(key) => pointer.push_str(&escape_pointer_token(key)),
            Segment::Index(index) => pointer.push_str(&index.to_string()),
        }
    }
    pointer
}

/// A repeated member found while building the value: its pointer and which occurrence it is.
struct FoundDuplicate {
    /// Which object (counted in document order, from 0) holds the member.
    object: usize,
    pointer: String,
    name: String,
    occurrence: usize,
}

struct BuildState {
    path: Vec<Segment>,
    depth: usize,
    limit: usize,
    too_deep: bool,
    objects: usize,
    duplicates: Vec<FoundDuplicate>,
}

impl BuildState {
    fn enter<E: de::Error>(&mut self) -> Result<(), E> {
        self.depth += 1;
        if self.depth > self.limit {
            self.too_deep = true;
            return Err(E::custom(format_args!(
                "nesting deeper than {} levels",
                self.limit
            )));
        }
        Ok(())
    }
}

/// Builds a [`Value`] like `serde_json` does, keeping track of the path, the depth and repeated
/// member names.
struct ValueSeed<'a> {
    state: &'a mut BuildState,
}

impl<'de> DeserializeSeed<'de> for ValueSeed<'_> {
    type Value = Value;

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ValueSeed<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        // serde_json never hands over a non-finite float; `Null` is what it would make of one.
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        self.state.enter()?;
        let mut items = Vec::new();
        loop {
            self.state.path.push(Segment::Index(items.len()));
            let item = seq.next_element_seed(ValueSeed {
                state: &mut *self.state,
            });
            self.state.path.pop();
            match item? {
                Some(item) => items.push(item),
                None => break,
            }
        }
        self.state.depth -= 1;
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Value, A::Error> {
        self.state.enter()?;
        let object = self.state.objects;
        self.state.objects += 1;
        let mut map = Map::new();
        // Occurrence counts, only for names seen more than once.
        let mut repeats: Vec<(String, usize)> = Vec::new();
        while let Some(key) = access.next_key::<String>()? {
            self.state.path.push(Segment::Key(key));
            let value = access.next_value_seed(ValueSeed {
                state: &mut *self.state,
            });
            let key = match self.state.path.pop() {
                Some(Segment::Key(key)) => key,
                _ => return Err(de::Error::custom("internal path stack out of step")),
            };
            let value = value?;
            if map.contains_key(&key) {
                let occurrence = match repeats.iter_mut().find(|(name, _)| *name == key) {
                    Some((_, count)) => {
                        *count += 1;
                        *count
                    }
                    None => {
                        repeats.push((key.clone(), 1));
                        1
                    }
                };
                let mut pointer = pointer_of(&self.state.path);
                pointer.push('/');
                pointer.push_str(&escape_pointer_token(&key));
                self.state.duplicates.push(FoundDuplicate {
                    object,
                    pointer,
                    name: key.clone(),
                    occurrence,
                });
            }
            map.insert(key, value);
        }
        self.state.depth -= 1;
        Ok(Value::Object(map))
    }
}

/// Where things are in a JSON text: for member pointers, the position of every occurrence of the
/// member name; for every pointer, the position of the (last) value there.
#[derive(Debug, Default)]
pub struct PositionIndex {
    keys: std::collections::HashMap<String, Vec<(usize, usize)>>,
    values: std::collections::HashMap<String, (usize, usize)>,
}

impl PositionIndex {
    /// Indexes every member name and value of a text that is known to be valid JSON (a text that
    /// is not gives a partial index).
    pub fn build(text: &str) -> Self {
        Self::build_for(text, None)
    }

    /// Like [`PositionIndex::build`], but keeps only the given pointers, so memory stays small
    /// whatever the size of the document.
    pub fn build_for(text: &str, wanted: Option<&std::collections::HashSet<&str>>) -> Self {
        let mut index = PositionIndex::default();
        let keep = |pointer: &str| wanted.is_none_or(|w| w.contains(pointer));
        scan(text, &mut |event| match event {
            ScanEvent::Key {
                pointer,
                line,
                column,
                ..
            } => {
                if keep(pointer) {
                    index
                        .keys
                        .entry(pointer.to_owned())
                        .or_default()
                        .push((line, column));
                }
            }
            ScanEvent::Value {
                pointer,
                line,
                column,
            } => {
                if keep(pointer) {
                    index.values.insert(pointer.to_owned(), (line, column));
                }
            }
        });
        index
    }

    /// Line and column of the value at `pointer` (the last one when a member is repeated).
    pub fn value(&self, pointer: &str) -> Option<(usize, usize)> {
        self.values.get(pointer).copied()
    }

    /// Line and column of the `occurrence`-th (0-based) appearance of the member at `pointer`.
    pub fn key(&self, pointer: &str, occurrence: usize) -> Option<(usize, usize)> {
        self.keys.get(pointer)?.get(occurrence).copied()
    }
}

fn locate_duplicates(text: &str, found: Vec<FoundDuplicate>) -> Vec<DuplicateMember> {
    use std::collections::HashMap;
    let wanted: std::collections::HashSet<usize> = found.iter().map(|d| d.object).collect();
    let mut keys: HashMap<(usize, String), Vec<(usize, usize)>> = HashMap::new();
    scan(text, &mut |event| {
        if let ScanEvent::Key {
            object,
            pointer,
            line,
            column,
        } = event
        {
            if wanted.contains(&object) {
                keys.entry((object, pointer.to_owned()))
                    .or_default()
                    .push((line, column));
            }
        }
    });
    found
        .into_iter()
        .map(|dup| {
            let (line, column) = keys
                .get(&(dup.object, dup.pointer.clone()))
                .and_then(|positions| positions.get(dup.occurrence))
                .copied()
                .unwrap_or((0, 0));
            DuplicateMember {
                pointer: dup.pointer,
                name: dup.name,
                line,
                column,
            }
        })
        .collect()
}

enum ScanEvent<'a> {
    Key {
        /// Ordinal of the enclosing object in document order.
        object: usize,
        pointer: &'a str,
        line: usize,
        column: usize,
    },
    Value {
        pointer: &'a str,
        line: usize,
        column: usize,
    },
}

enum Frame {
    Object { key: Option<String>, ordinal: usize },
    Array { next: usize },
}

/// A forgiving, iterative walk over JSON text that reports where each member name and each value
/// starts. It is only run on text `serde_json` has accepted, so it does not re-check the syntax.
fn scan(text: &str, emit: &mut dyn FnMut(ScanEvent<'_>)) {
    let bytes = text.as_bytes();
    let mut stack: Vec<Frame> = Vec::new();
    let mut path = PointerPath::default();
    let mut i = 0;
    let mut line = 1;
    let mut line_start = 0;
    // Whether the next string in an object is a member name.
    let mut expect_key = false;
    let mut objects = 0;
    while i < bytes.len() {
        let b = bytes[i];
        match b {
            b'\n' => {
                line += 1;
                line_start = i + 1;
                i += 1;
            }
            b' ' | b'\t' | b'\r' | b':' => i += 1,
            b',' => {
                if let Some(Frame::Object { .. }) = stack.last() {
                    expect_key = true;
                    path.pop();
                }
                i += 1;
            }
            b'}' | b']' => {
                if let Some(Frame::Object { key: Some(_), .. }) = stack.last() {
                    path.pop();
                }
                if let Some(Frame::Array { next }) = stack.last() {
                    if *next > 0 {
                        path.pop();
                    }
                }
                stack.pop();
                expect_key = false;
                i += 1;
            }
            _ => {
                let column = i - line_start + 1;
                let end = token_end(bytes, i);
                if b == b'"' && expect_key {
                    let raw = text.get(i..end).unwrap_or_default();
                    let name = if raw.contains('\\') {
                        serde_json::from_str::<String>(raw).unwrap_or_default()
                    } else {
                        raw.strip_prefix('"')
                            .and_then(|r| r.strip_suffix('"'))
                            .unwrap_or(raw)
                            .to_owned()
                    };
                    path.push(&escape_pointer_token(&name));
                    let mut object = 0;
                    if let Some(Frame::Object { key, ordinal }) = stack.last_mut() {
                        *key = Some(name);
                        object = *ordinal;
                    }
                    emit(ScanEvent::Key {
                        object,
                        pointer: path.as_str(),
                        line,
                        column,
                    });
                    expect_key = false;
                    i = end;
                    continue;
                }
                // A value starts here.
                if let Some(Frame::Array { next }) = stack.last_mut() {
                    if *next > 0 {
                        path.pop();
                    }
                    path.push(&next.to_string());
                    *next += 1;
                }
                emit(ScanEvent::Value {
                    pointer: path.as_str(),
                    line,
                    column,
                });
                match b {
                    b'{' => {
                        stack.push(Frame::Object {
                            key: None,
                            ordinal: objects,
                        });
                        objects += 1;
                        expect_key = true;
                        i += 1;
                    }
                    b'[' => {
                        stack.push(Frame::Array { next: 0 });
                        i += 1;
                    }
                    _ => i = end,
                }
            }
        }
    }
}

/// The JSON pointer of the current position, grown and shrunk in place.
#[derive(Default)]
struct PointerPath {
    pointer: String,
    lengths: Vec<usize>,
}

impl PointerPath {
    fn push(&mut self, token: &str) {
        self.lengths.push(self.pointer.len());
        self.pointer.push('/');
        self.pointer.push_str(token);
    }

    fn pop(&mut self) {
        if let Some(length) = self.lengths.pop() {
            self.pointer.truncate(length);
        }
    }

    fn as_str(&self) -> &str {
        &self.pointer
    }
}

/// End (exclusive) of the scalar token starting at `start`; strings honour escapes.
fn token_end(bytes: &[u8], start: usize) -> usize {
    if bytes[start] == b'"' {
        let mut i = start + 1;
        while i < bytes.len() {
            match bytes[i] {
                b'\\' => i += 2,
                b'"' => return i + 1,
                _ => i += 1,
            }
        }
        return bytes.len();
    }
    if matches!(bytes[start], b'{' | b'[') {
        return start + 1;
    }
    let mut i = start;
    while i < bytes.len()
        && !matches!(
            bytes[i],
            b',' | b'}' | b']' | b' ' | b'\t' | b'\r' | b'\n' | b':'
        )
    {
        i += 1;
    }
    i.max(start + 1)
}
