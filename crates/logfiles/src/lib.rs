//! CloudTrail log files as an event source.
//!
//! Reads, plain or gzip (detected by content, not name):
//! - trail files as CloudTrail delivers them to S3: `{"Records":[...]}`, in whole trees such as
//!   `AWSLogs/<org>/<account>/CloudTrail/<region>/YYYY/MM/DD/`;
//! - the JSON printed by `aws cloudtrail lookup-events`: `{"Events":[{"CloudTrailEvent":"..."}]}`;
//! - a JSON array of records, and JSON Lines (one record per line).
//!
//! Records are handed out one at a time as their text. Files up to [`WHOLE_FILE_LIMIT`] bytes
//! (decompressed) are read into memory and parsed in place, which is fastest; larger files are
//! parsed from the stream, so memory stays bounded whatever the file size. A broken file (invalid
//! JSON, truncated gzip) yields every record before the break and then reports the break.
//!
//! Hostile input is bounded too ([`ReadLimits`]): a file that decompresses past its limit (a gzip
//! bomb) stops there with that reason, and a record longer than its limit is never held whole —
//! a long line is skipped to its end and reported as malformed, and a long element of a streamed
//! array stops the file with the record's number.

mod docscan;

use std::fmt;
use std::fs::File;
use std::io::{BufRead, BufReader, Cursor, Read};
use std::path::{Path, PathBuf};

use flate2::read::MultiGzDecoder;
use serde::Deserialize;
use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

/// Decompressed size up to which a file is parsed in memory.
pub const WHOLE_FILE_LIMIT: usize = 32 * 1024 * 1024;

/// How much one file may make the reader hold or read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadLimits {
    /// Decompressed size up to which a file is parsed in memory.
    pub whole_file: usize,
    /// Decompressed bytes read from one file at most: past it the file is a gzip bomb or not a
    /// CloudTrail file (CloudTrail's files are at most tens of MB compressed, ~10x that plain).
    pub file_bytes: u64,
    /// Bytes of one record at most (CloudTrail's own limit is 256 KB).
    pub record_bytes: usize,
}

impl Default for ReadLimits {
    fn default() -> Self {
        Self {
            whole_file: WHOLE_FILE_LIMIT,
            file_bytes: 4 << 30,
            record_bytes: iat_core::RecordLimits::default().max_record_bytes,
        }
    }
}

/// The layout of a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    /// `{"Records": [...]}`
    TrailFile,
    /// `{"Events": [{"CloudTrailEvent": "..."}]}`
    LookupEvents,
    /// `[record, ...]`
    RecordArray,
    /// One record per line.
    JsonLines,
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Format::TrailFile => "trail file",
            Format::LookupEvents => "lookup-events output",
            Format::RecordArray => "record array",
            Format::JsonLines => "JSON Lines",
        })
    }
}

/// One thing read from a file.
#[derive(Debug)]
pub enum Item {
    /// A record's text; `index` counts records in the file from 1.
    Record { index: usize, text: String },
    /// An entry that is not a record (a lookup-events entry without `CloudTrailEvent`, ...).
    Malformed {
        index: usize,
        reason: String,
        raw: String,
    },
}

/// What reading one file found.
#[derive(Debug, Clone, serde::Serialize)]
pub struct FileOutcome {
    pub path: PathBuf,
    pub format: Option<Format>,
    /// Bytes on disk.
    pub bytes: u64,
    pub items: usize,
    /// Why reading stopped early, if it did (items before the break were delivered).
    pub error: Option<String>,
    /// The file had bytes that are not UTF-8; they were replaced by U+FFFD.
    pub utf8_repaired: bool,
}

impl FileOutcome {
    fn new(path: PathBuf) -> Self {
        Self {
            path,
            format: None,
            bytes: 0,
            items: 0,
            error: None,
            utf8_repaired: false,
        }
    }
}

/// One item read from `origin`, normalised and filtered as [`iat_core::triage`] does, with its
/// record number; an item that is not a record is refused like a record that does not
/// normalise, with its text to quarantine. What `iat ingest` and the trail ingester share.
pub fn triage_item(
    origin: &str,
    item: Item,
    limits: &iat_core::RecordLimits,
    filter: &iat_core::NoiseFilter,
) -> (usize, iat_core::Triage) {
    match item {
        Item::Record { index, text } => (
            index,
            iat_core::triage(text, limits, filter, || format!("{origin}#{index}")),
        ),
        Item::Malformed { index, reason, raw } => (
            index,
            iat_core::Triage::Refused {
                quarantined: iat_core::ports::Quarantined {
                    origin: format!("{origin}#{index}"),
                    event_id: None,
                    reason,
                    raw,
                },
                oversized: false,
            },
        ),
    }
}

/// Files found below the inputs, and inputs that could not be used.
#[derive(Debug, Default)]
pub struct Discovery {
    pub files: Vec<(PathBuf, u64)>,
    pub problems: Vec<(PathBuf, String)>,
}

impl Discovery {
    pub fn total_bytes(&self) -> u64 {
        self.files.iter().map(|(_, b)| b).sum()
    }
}

/// True for names the walker picks up inside directories. Files named explicitly are always read.
pub fn is_log_file_name(name: &str) -> bool {
    let name = name.strip_suffix(".gz").unwrap_or(name);
    [".json", ".jsonl", ".ndjson"]
        .iter()
        .any(|ext| name.ends_with(ext))
}

/// Expands files and directories (recursively, sorted) into the files to read.
pub fn discover(inputs: &[PathBuf]) -> Discovery {
    let mut d = Discovery::default();
    for input in inputs {
        let meta = match std::fs::metadata(input) {
            Ok(m) => m,
            Err(e) => {
                d.problems.push((input.clone(), e.to_string()));
                continue;
            }
        };
        if meta.is_file() {
            d.files.push((input.clone(), meta.len()));
            continue;
        }
        let mut found = Vec::new();
        for entry in walkdir::WalkDir::new(input)
            .follow_links(true)
            .sort_by_file_name()
        {
            match entry {
                Ok(e) if e.file_type().is_file() => {
                    let name = e.file_name().to_string_lossy();
                    if is_log_file_name(&name) {
                        let len = e.metadata().map(|m| m.len()).unwrap_or(0);
                        found.push((e.into_path(), len));
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    let path = e
                        .path()
                        .map(Path::to_owned)
                        .unwrap_or_else(|| input.clone());
                    d.problems.push((path, e.to_string()));
                }
            }
        }
        d.files.extend(found);
    }
    d
}

/// Reads one file, calling `each` for every record in order.
pub fn read_file(path: &Path, each: &mut dyn FnMut(Item)) -> FileOutcome {
    read_file_with_limit(path, WHOLE_FILE_LIMIT, each)
}

/// [`read_file`], parsing files larger than `whole_file_limit` bytes from the stream.
pub fn read_file_with_limit(
    path: &Path,
    whole_file_limit: usize,
    each: &mut dyn FnMut(Item),
) -> FileOutcome {
    let limits = ReadLimits {
        whole_file: whole_file_limit,
        ..ReadLimits::default()
    };
    read_file_with(path, &limits, each)
}

/// [`read_file`] within `limits`.
pub fn read_file_with(path: &Path, limits: &ReadLimits, each: &mut dyn FnMut(Item)) -> FileOutcome {
    let mut out = FileOutcome::new(path.to_owned());
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) => {
            out.error = Some(format!("cannot open: {e}"));
            return out;
        }
    };
    out.bytes = file.metadata().map(|m| m.len()).unwrap_or(0);
    read_into(file, limits, &mut out, each);
    out
}

/// Reads one file's bytes from any stream (an object store's body, a pipe), plain or gzip,
/// within `limits`, calling `each` for every record in order. `name` is what the outcome's
/// `path` says; its `bytes` is what was read from the stream (compressed).
pub fn read_stream(
    name: &str,
    stream: impl Read,
    limits: &ReadLimits,
    each: &mut dyn FnMut(Item),
) -> FileOutcome {
    let mut out = FileOutcome::new(PathBuf::from(name));
    let mut counted = Counted {
        inner: stream,
        read: 0,
    };
    read_into(&mut counted, limits, &mut out, each);
    out.bytes = counted.read;
    out
}

/// Counts the bytes read through it.
struct Counted<R> {
    inner: R,
    read: u64,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        Ok(n)
    }
}

fn read_into(
    source: impl Read,
    limits: &ReadLimits,
    out: &mut FileOutcome,
    each: &mut dyn FnMut(Item),
) {
    let whole_file_limit = limits.whole_file;
    let mut buffered = BufReader::with_capacity(256 * 1024, source);
    let gz = match buffered.fill_buf() {
        Ok(head) => head.starts_with(&[0x1f, 0x8b]),
        Err(e) => {
            out.error = Some(format!("cannot read: {e}"));
            return;
        }
    };
    let inner: Box<dyn Read + '_> = if gz {
        Box::new(MultiGzDecoder::new(buffered))
    } else {
        Box::new(buffered)
    };
    let mut reader = FileCap {
        inner,
        read: 0,
        cap: limits.file_bytes,
    };

    let mut prefix = Vec::new();
    let read = (&mut reader)
        .take(whole_file_limit as u64 + 1)
        .read_to_end(&mut prefix);
    let mut count = |item: Item| {
        out.items += 1;
        each(item);
    };
    let result = match read {
        Ok(n) if n <= whole_file_limit => read_in_memory(
            prefix,
            None,
            &mut out.format,
            &mut out.utf8_repaired,
            &mut count,
        ),
        Ok(_) => read_streaming(
            Cursor::new(prefix).chain(reader),
            limits.record_bytes,
            &mut out.format,
            &mut count,
        ),
        Err(e) => {
            let why = if e.kind() == std::io::ErrorKind::FileTooLarge {
                e.to_string()
            } else if gz {
                format!("truncated or corrupt gzip: {e}")
            } else {
                format!("read error: {e}")
            };
            read_in_memory(
                prefix,
                Some(why),
                &mut out.format,
                &mut out.utf8_repaired,
                &mut count,
            )
        }
    };
    if let Err(e) = result {
        out.error = Some(e);
    }
}

/// Reads records from a file's (decompressed) contents already in memory; returns the format.
pub fn read_bytes(bytes: Vec<u8>, each: &mut dyn FnMut(Item)) -> Result<Format, String> {
    let mut format = None;
    let mut repaired = false;
    read_in_memory(bytes, None, &mut format, &mut repaired, each)?;
    Ok(format.unwrap_or(Format::JsonLines))
}

/// What the text starts with.
fn detect(text: &[u8]) -> Format {
    let mut i = 0;
    let skip_ws = |i: &mut usize| {
        while *i < text.len()
            && (text[*i].is_ascii_whitespace()
                || text[*i] == 0xEF
                || text[*i] == 0xBB
                || text[*i] == 0xBF)
        {
            *i += 1;
        }
    };
    skip_ws(&mut i);
    match text.get(i) {
        Some(b'[') => return Format::RecordArray,
        Some(b'{') => i += 1,
        _ => return Format::JsonLines,
    }
    skip_ws(&mut i);
    if text.get(i) != Some(&b'"') {
        return Format::JsonLines;
    }
    let key = &text[i + 1..];
    if key.starts_with(b"Records\"") {
        Format::TrailFile
    } else if key.starts_with(b"Events\"") || key.starts_with(b"NextToken\"") {
        Format::LookupEvents
    } else {
        Format::JsonLines
    }
}

fn read_in_memory(
    bytes: Vec<u8>,
    read_error: Option<String>,
    format: &mut Option<Format>,
    repaired: &mut bool,
    each: &mut dyn FnMut(Item),
) -> Result<(), String> {
    let text = match String::from_utf8(bytes) {
        Ok(s) => s,
        Err(e) => {
            *repaired = true;
            String::from_utf8_lossy(e.as_bytes()).into_owned()
        }
    };
    let fmt = detect(text.as_bytes());
    *format = Some(fmt);
    let parsed = match fmt {
        Format::JsonLines if is_single_multiline_document(&text) => {
            if has_records_member(&text) {
                // A trail file whose first member is not `Records`.
                let mut de = serde_json::Deserializer::from_str(&text);
                document(Format::TrailFile, &mut de, each).and_then(|()| de.end())
            } else {
                each(Item::Record {
                    index: 1,
                    text: text.trim().to_owned(),
                });
                Ok(())
            }
        }
        Format::JsonLines => {
            read_lines(BufReader::new(text.as_bytes()), usize::MAX, each)
                .map_err(|e| e.to_string())?;
            Ok(())
        }
        _ => {
            let mut de = serde_json::Deserializer::from_str(&text);
            document(fmt, &mut de, each).and_then(|()| de.end())
        }
    };
    match (read_error, parsed) {
        (Some(why), _) => Err(why),
        (None, Err(e)) => Err(json_error(&e)),
        (None, Ok(())) => Ok(()),
    }
}

/// An object with a `Records` or `Events` member: a document, not one record.
fn has_records_member(text: &str) -> bool {
    #[derive(Deserialize)]
    struct Probe {
        #[serde(rename = "Records")]
        records: Option<IgnoredAny>,
        #[serde(rename = "Events")]
        events: Option<IgnoredAny>,
    }
    serde_json::from_str::<Probe>(text).is_ok_and(|p| p.records.is_some() || p.events.is_some())
}

/// A pretty-printed record: the first line alone is not JSON, but the whole text is one value.
fn is_single_multiline_document(text: &str) -> bool {
    let first = text.trim_start().lines().next().unwrap_or("");
    text.trim_start().starts_with('{')
        && serde_json::from_str::<IgnoredAny>(first).is_err()
        && serde_json::from_str::<IgnoredAny>(text).is_ok()
}

fn read_streaming(
    reader: impl Read,
    record_bytes: usize,
    format: &mut Option<Format>,
    each: &mut dyn FnMut(Item),
) -> Result<(), String> {
    let mut reader = BufReader::with_capacity(1024 * 1024, reader);
    let head = reader.fill_buf().map_err(|e| e.to_string())?;
    let fmt = detect(head);
    *format = Some(fmt);
    // An object spread over lines whose first member is not `Records`: still a document.
    let spread = fmt == Format::JsonLines
        && head.first() == Some(&b'{')
        && head
            .iter()
            .position(|b| *b == b'\n')
            .is_some_and(|end| serde_json::from_slice::<IgnoredAny>(&head[..end]).is_err());
    match fmt {
        Format::JsonLines if !spread => {
            read_lines(reader, record_bytes, each).map_err(|e| e.to_string())
        }
        _ => docscan::stream_document(reader, fmt, record_bytes, each),
    }
}

/// Stops a file that decompresses past `cap` bytes.
struct FileCap<R> {
    inner: R,
    read: u64,
    cap: u64,
}

impl<R: Read> Read for FileCap<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        if self.read > self.cap {
            return Err(std::io::Error::new(
                std::io::ErrorKind::FileTooLarge,
                format!(
                    "decompresses to more than {} bytes (a gzip bomb, or not a CloudTrail file); \
                     the rest of the file is skipped",
                    self.cap
                ),
            ));
        }
        Ok(n)
    }
}

fn json_error(e: &serde_json::Error) -> String {
    if e.is_io() {
        format!("{e}")
    } else if e.is_eof() {
        format!("file ends early (truncated?): {e}")
    } else {
        format!("invalid JSON: {e}")
    }
}

/// Lines of at most `max` bytes are records; a longer one is read to its end without being held
/// and handed out as malformed, with its first bytes.
fn read_lines(
    mut reader: impl BufRead,
    max: usize,
    each: &mut dyn FnMut(Item),
) -> std::io::Result<()> {
    let mut line = Vec::new();
    let mut index = 0;
    loop {
        line.clear();
        let (read, over) = read_line_capped(&mut reader, &mut line, max)?;
        if read == 0 {
            return Ok(());
        }
        if over {
            index += 1;
            each(Item::Malformed {
                index,
                reason: format!("record is longer than {max} bytes ({read} bytes)"),
                raw: String::from_utf8_lossy(&line[..line.len().min(1024)]).into_owned(),
            });
            continue;
        }
        let text = String::from_utf8_lossy(&line);
        let text = text.trim();
        if text.is_empty() {
            continue;
        }
        index += 1;
        each(Item::Record {
            index,
            text: text.to_owned(),
        });
    }
}

/// Reads one line into `line`, keeping at most `max` bytes of it; returns the bytes the line
/// had (0 at the end) and whether it was longer than `max`.
fn read_line_capped(
    reader: &mut impl BufRead,
    line: &mut Vec<u8>,
    max: usize,
) -> std::io::Result<(usize, bool)> {
    let mut total = 0;
    loop {
        let buf = reader.fill_buf()?;
        if buf.is_empty() {
            return Ok((total, total > max));
        }
        let (chunk, done) = match buf.iter().position(|&b| b == b'\n') {
            Some(i) => (&buf[..=i], true),
            None => (buf, false),
        };
        let keep = chunk
            .len()
            .min(max.saturating_add(1).saturating_sub(line.len()));
        line.extend_from_slice(&chunk[..keep]);
        let n = chunk.len();
        total += n;
        reader.consume(n);
        if done {
            return Ok((total, total > max));
        }
    }
}

fn document<'de, D: Deserializer<'de>>(
    fmt: Format,
    de: D,
    each: &mut dyn FnMut(Item),
) -> Result<(), D::Error> {
    let mut index = 0;
    let seed = Top {
        fmt,
        each,
        index: &mut index,
    };
    seed.deserialize(de)
}

/// The top-level value: an object with `Records` or `Events`, or an array of records.
struct Top<'a, 'f> {
    fmt: Format,
    each: &'a mut (dyn FnMut(Item) + 'f),
    index: &'a mut usize,
}

impl<'de> DeserializeSeed<'de> for Top<'_, '_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Top<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("{\"Records\": [...]}, {\"Events\": [...]} or an array of records")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            let kind = match key.as_ref() {
                "Records" => Some(Format::TrailFile),
                "Events" => Some(Format::LookupEvents),
                _ => None,
            };
            match kind {
                Some(fmt) => map.next_value_seed(Elements {
                    fmt,
                    each: &mut *self.each,
                    index: &mut *self.index,
                })?,
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<(), A::Error> {
        Elements {
            fmt: self.fmt,
            each: self.each,
            index: self.index,
        }
        .visit_seq(seq)
    }
}

/// The elements of `Records` / `Events` / a top-level array, handed out one at a time.
struct Elements<'a, 'f> {
    fmt: Format,
    each: &'a mut (dyn FnMut(Item) + 'f),
    index: &'a mut usize,
}

impl<'de> DeserializeSeed<'de> for Elements<'_, '_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

#[derive(Deserialize)]
struct LookupEntry {
    #[serde(rename = "CloudTrailEvent")]
    cloud_trail_event: Option<String>,
}

impl<'de> Visitor<'de> for Elements<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(raw) = seq.next_element::<Box<RawValue>>()? {
            *self.index += 1;
            let index = *self.index;
            let text: String = Box::<str>::from(raw).into();
            let item = element_item(self.fmt, index, text);
            (self.each)(item);
        }
        Ok(())
    }
}

/// One element of `Records` / `Events` / a top-level array as what it stands for.
pub(crate) fn element_item(fmt: Format, index: usize, text: String) -> Item {
    if fmt != Format::LookupEvents {
        return Item::Record { index, text };
    }
    match serde_json::from_str::<LookupEntry>(&text) {
        Ok(LookupEntry {
            cloud_trail_event: Some(record),
        }) => Item::Record {
            index,
            text: record,
        },
        Ok(_) => Item::Malformed {
            index,
            reason: "lookup-events entry has no CloudTrailEvent".to_owned(),
            raw: text,
        },
        Err(e) => Item::Malformed {
            index,
            reason: format!("lookup-events entry is not an object: {e}"),
            raw: text,
        },
    }
}

/// Every event in `inputs` (files and directories), for tools that want them all in memory
/// (`iat rules test`). Records that do not normalise are returned with the reason, never
/// dropped silently.
#[derive(Debug, Default)]
pub struct Loaded {
    pub events: Vec<iat_core::ActivityEvent>,
    /// `(file, record index, reason)` of each record that could not be used.
    pub rejected: Vec<(PathBuf, usize, String)>,
    /// Files or directories that could not be read.
    pub problems: Vec<(PathBuf, String)>,
}

/// What [`for_each_event`] hands out, one at a time.
#[derive(Debug)]
pub enum EventRead<'a> {
    /// A record that normalised.
    Event(Box<iat_core::ActivityEvent>),
    /// A record that could not be used, with its index in the file and the reason.
    Rejected {
        path: &'a Path,
        index: usize,
        reason: String,
    },
    /// A file or directory that could not be read (records before the break were handed out).
    Problem { path: &'a Path, error: String },
}

/// Reads and normalises every record under `inputs`, handing each out as it is read: memory
/// stays that of one file's reading, whatever the number of events.
pub fn for_each_event(
    inputs: &[PathBuf],
    limits: &iat_core::RecordLimits,
    each: &mut dyn FnMut(EventRead<'_>),
) {
    let discovery = discover(inputs);
    for (path, error) in discovery.problems {
        each(EventRead::Problem { path: &path, error });
    }
    for (path, _) in &discovery.files {
        let outcome = read_file(path, &mut |item| match item {
            Item::Record { index, text } => match iat_core::normalize(text, limits) {
                Ok(n) => each(EventRead::Event(Box::new(n.event))),
                Err(r) => each(EventRead::Rejected {
                    path,
                    index,
                    reason: r.error.to_string(),
                }),
            },
            Item::Malformed { index, reason, .. } => each(EventRead::Rejected {
                path,
                index,
                reason,
            }),
        });
        if let Some(error) = outcome.error {
            each(EventRead::Problem { path, error });
        }
    }
}

/// Reads and normalises every record under `inputs`.
pub fn load_events(inputs: &[PathBuf], limits: &iat_core::RecordLimits) -> Loaded {
    let mut loaded = Loaded::default();
    for_each_event(inputs, limits, &mut |read| match read {
        EventRead::Event(e) => loaded.events.push(*e),
        EventRead::Rejected {
            path,
            index,
            reason,
        } => loaded.rejected.push((path.to_owned(), index, reason)),
        EventRead::Problem { path, error } => loaded.problems.push((path.to_owned(), error)),
    });
    loaded
}
