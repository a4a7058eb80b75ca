//! The records of a large JSON document, found by their brackets as the bytes stream past.
//!
//! serde_json reads a stream one byte at a time through `Read`, at about half the speed it
//! parses text in memory. A CloudTrail document's shape is simple (an object whose `Records` or
//! `Events` is an array, or an array of records), so finding where each record starts and ends
//! needs only the nesting depth and whether the scan is inside a string. Each record's text is
//! handed out as in memory; the normaliser parses it, and rejects it if it is not JSON.

use std::io::BufRead;

use crate::{Format, Item, element_item};

fn truncated() -> String {
    "file ends early (truncated?): the document is not closed".to_owned()
}

fn invalid(what: &str) -> String {
    format!("invalid JSON: {what}")
}

struct Scanner<R> {
    r: R,
    /// Bytes of one record at most.
    cap: usize,
}

impl<R: BufRead> Scanner<R> {
    /// The next byte that is not white space, left unread; `None` at the end.
    fn peek(&mut self) -> Result<Option<u8>, String> {
        loop {
            let buf = self.r.fill_buf().map_err(|e| e.to_string())?;
            if buf.is_empty() {
                return Ok(None);
            }
            match buf.iter().position(|b| !b.is_ascii_whitespace()) {
                Some(i) => {
                    let b = buf[i];
                    self.r.consume(i);
                    return Ok(Some(b));
                }
                None => {
                    let n = buf.len();
                    self.r.consume(n);
                }
            }
        }
    }

    fn bump(&mut self) {
        self.r.consume(1);
    }

    /// Reads one value starting at the next byte, appending its text to `keep` (capped at
    /// `cap` bytes) when given.
    fn value(&mut self, mut keep: Option<&mut Vec<u8>>) -> Result<(), String> {
        let (mut depth, mut in_str, mut escaped) = (0usize, false, false);
        let (mut started, mut scalar, mut len) = (false, false, 0usize);
        loop {
            let buf = self.r.fill_buf().map_err(|e| e.to_string())?;
            if buf.is_empty() {
                return Err(truncated());
            }
            let mut end = None;
            for (i, &b) in buf.iter().enumerate() {
                if !started {
                    started = true;
                    match b {
                        b'{' | b'[' => depth = 1,
                        b'"' => in_str = true,
                        b',' | b']' | b'}' | b':' => {
                            return Err(invalid(&format!("unexpected '{}'", b as char)));
                        }
                        _ => scalar = true,
                    }
                    continue;
                }
                if scalar {
                    if matches!(b, b',' | b']' | b'}') || b.is_ascii_whitespace() {
                        end = Some(i);
                        break;
                    }
                } else if in_str {
                    if escaped {
                        escaped = false;
                    } else if b == b'\\' {
                        escaped = true;
                    } else if b == b'"' {
                        in_str = false;
                        if depth == 0 {
                            end = Some(i + 1);
                            break;
                        }
                    }
                } else {
                    match b {
                        b'"' => in_str = true,
                        b'{' | b'[' => depth += 1,
                        b'}' | b']' => {
                            depth -= 1;
                            if depth == 0 {
                                end = Some(i + 1);
                                break;
                            }
                        }
                        _ => {}
                    }
                }
            }
            let n = end.unwrap_or(buf.len());
            len += n;
            if let Some(k) = keep.as_deref_mut() {
                if len > self.cap {
                    return Err(format!(
                        "a record is longer than {} bytes; the rest of the file is skipped",
                        self.cap
                    ));
                }
                k.extend_from_slice(&buf[..n]);
            }
            self.r.consume(n);
            if end.is_some() {
                return Ok(());
            }
        }
    }

    /// The elements of the array starting at the next byte, each handed out as a record.
    fn elements(
        &mut self,
        fmt: Format,
        index: &mut usize,
        each: &mut dyn FnMut(Item),
    ) -> Result<(), String> {
        if self.peek()? != Some(b'[') {
            return Err(invalid("the records are not an array"));
        }
        self.bump();
        let mut first = true;
        loop {
            let c = self.peek()?.ok_or_else(truncated)?;
            if c == b']' {
                self.bump();
                return Ok(());
            }
            if !first {
                if c != b',' {
                    return Err(invalid("expected ',' or ']' between records"));
                }
                self.bump();
                self.peek()?.ok_or_else(truncated)?;
            }
            first = false;
            let mut text = Vec::new();
            self.value(Some(&mut text))?;
            *index += 1;
            let text = String::from_utf8(text)
                .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
            each(element_item(fmt, *index, text));
        }
    }

    /// The members of the object whose `{` was read: `Records` or `Events` streamed, the rest
    /// skipped.
    fn object(&mut self, index: &mut usize, each: &mut dyn FnMut(Item)) -> Result<(), String> {
        let mut first = true;
        loop {
            let c = self.peek()?.ok_or_else(truncated)?;
            if c == b'}' {
                self.bump();
                return Ok(());
            }
            if !first {
                if c != b',' {
                    return Err(invalid("expected ',' or '}' between members"));
                }
                self.bump();
            }
            first = false;
            if self.peek()?.ok_or_else(truncated)? != b'"' {
                return Err(invalid("expected a member name"));
            }
            let mut key = Vec::new();
            let cap = std::mem::replace(&mut self.cap, 4096);
            let read = self.value(Some(&mut key));
            self.cap = cap;
            read?;
            let key: String =
                serde_json::from_slice(&key).map_err(|e| invalid(&format!("member name: {e}")))?;
            if self.peek()?.ok_or_else(truncated)? != b':' {
                return Err(invalid("expected ':' after a member name"));
            }
            self.bump();
            self.peek()?.ok_or_else(truncated)?;
            match key.as_str() {
                "Records" => self.elements(Format::TrailFile, index, each)?,
                "Events" => self.elements(Format::LookupEvents, index, each)?,
                _ => self.value(None)?,
            }
        }
    }
}

/// Streams the records of a trail file, a lookup-events output or an array of records.
pub(crate) fn stream_document(
    reader: impl BufRead,
    fmt: Format,
    record_bytes: usize,
    each: &mut dyn FnMut(Item),
) -> Result<(), String> {
    let mut s = Scanner {
        r: reader,
        cap: record_bytes,
    };
    let mut index = 0;
    match s.peek()? {
        Some(b'[') => s.elements(fmt, &mut index, each)?,
        Some(b'{') => {
            s.bump();
            s.object(&mut index, each)?;
        }
        Some(_) => return Err(invalid("expected an object or an array")),
        None => return Err(truncated()),
    }
    match s.peek()? {
        None => Ok(()),
        Some(_) => Err(invalid("trailing characters after the document")),
    }
}
