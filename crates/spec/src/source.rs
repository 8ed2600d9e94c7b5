//! Byte offsets to 1-based line/column positions, and the excerpt of a source line that a
//! diagnostic shows under its message.
//!
//! Columns count Unicode scalar values (characters), as rustc and most editors do. Lines of
//! any length are handled without rescanning: a located position is remembered so that the
//! next, later offset on the same line only counts the characters in between.

use std::ops::Range;

use serde::Serialize;

/// Characters of context shown on each side of a marker when a line is too long to print whole.
const CONTEXT_CHARS: usize = 48;
/// Lines up to this many bytes are printed whole.
const WHOLE_LINE_BYTES: usize = 160;
/// The longest marker drawn; longer spans are cut (a multi-line table is marked on its first line).
const MAX_MARKER_CHARS: usize = 80;

/// The source line of a diagnostic, as printed: control characters replaced, long lines cut
/// around the marker, values of secret-looking keys masked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Snippet {
    /// The text printed after the line number.
    pub text: String,
    /// Characters of `text` before the marker.
    pub start: usize,
    /// Characters the marker covers (at least 1).
    pub len: usize,
}

/// A resolved position: 1-based line and column, and the excerpt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Located {
    pub line: usize,
    pub column: usize,
    pub snippet: Snippet,
}

pub(crate) struct SourceMap<'a> {
    text: &'a str,
    line_starts: Vec<usize>,
    /// The last resolved (offset, line index, column) to make in-order lookups linear.
    memo: Option<(usize, usize, usize)>,
}

impl<'a> SourceMap<'a> {
    pub fn new(text: &'a str) -> Self {
        let mut line_starts = vec![0];
        line_starts.extend(
            text.bytes()
                .enumerate()
                .filter(|(_, b)| *b == b'\n')
                .map(|(i, _)| i + 1),
        );
        SourceMap {
            text,
            line_starts,
            memo: None,
        }
    }

    fn floor_boundary(&self, mut offset: usize) -> usize {
        offset = offset.min(self.text.len());
        while !self.text.is_char_boundary(offset) {
            offset -= 1;
        }
        offset
    }

    /// The byte range of a line's content, without its `\n` (or `\r\n`).
    fn line_range(&self, line: usize) -> Range<usize> {
        let start = self.line_starts[line];
        let mut end = self.line_starts.get(line + 1).map_or(self.text.len(), |next| next - 1);
        if end > start && self.text.as_bytes()[end - 1] == b'\r' {
            end -= 1;
        }
        start..end
    }

    /// Locates a span. Spans ending past their first line are marked on that line only.
    pub fn locate(&mut self, span: Range<usize>) -> Located {
        let start = self.floor_boundary(span.start);
        let line = self.line_starts.partition_point(|&s| s <= start) - 1;
        let line_start = self.line_starts[line];
        let column = match self.memo {
            Some((offset, memo_line, memo_column)) if memo_line == line && offset <= start => {
                memo_column + self.text[offset..start].chars().count()
            }
            _ => self.text[line_start..start].chars().count() + 1,
        };
        self.memo = Some((start, line, column));
        let range = self.line_range(line);
        let marker_start = start.min(range.end);
        let marker_end = self.floor_boundary(span.end.min(range.end)).max(marker_start);
        let snippet = excerpt(self.text, range, marker_start, marker_end);
        Located {
            line: line + 1,
            column,
            snippet,
        }
    }
}

/// Cuts `line` (a byte range of `text`) around `start..end` and cleans it for printing.
fn excerpt(text: &str, line: Range<usize>, start: usize, end: usize) -> Snippet {
    let mask_from = secret_value_start(&text[line.clone()]).map(|i| line.start + i);
    let (from, to) = if line.end - line.start <= WHOLE_LINE_BYTES {
        (line.start, line.end)
    } else {
        let from = text[line.start..start]
            .char_indices()
            .rev()
            .nth(CONTEXT_CHARS - 1)
            .map_or(line.start, |(i, _)| line.start + i);
        let marked_end = text[start..end]
            .char_indices()
            .nth(MAX_MARKER_CHARS)
            .map_or(end, |(i, _)| start + i);
        let to = text[marked_end..line.end]
            .char_indices()
            .nth(CONTEXT_CHARS)
            .map_or(line.end, |(i, _)| marked_end + i);
        (from, to)
    };
    let mut out = String::new();
    let mut chars_before = 0;
    let mut marked = 0;
    if from > line.start {
        out.push('…');
        chars_before += 1;
    }
    for (i, c) in text[from..to].char_indices() {
        let at = from + i;
        let shown = if mask_from.is_some_and(|m| at >= m) && !c.is_whitespace() {
            '*'
        } else if c == '\t' {
            ' '
        } else if c.is_control() {
            '\u{FFFD}'
        } else {
            c
        };
        out.push(shown);
        if at < start {
            chars_before += 1;
        } else if at < end && marked < MAX_MARKER_CHARS {
            marked += 1;
        }
    }
    if to < line.end {
        out.push('…');
    }
    Snippet {
        text: out,
        start: chars_before,
        len: marked.max(1),
    }
}

/// Where the value begins on a line that assigns a secret-looking key (`access_key_secret = ...`),
/// so that a diagnostic about such a line never prints the secret itself.
fn secret_value_start(line: &str) -> Option<usize> {
    let eq = line.find('=')?;
    // A URL with user information (`https://user:password@host`) carries a password too.
    let value = &line[eq..];
    let userinfo = value.find("://").is_some_and(|i| value[i..].contains('@'));
    (looks_secret(&line[..eq]) || userinfo).then_some(eq + 1)
}

/// Whether a key names a credential; such keys are refused and their values never printed.
pub(crate) fn looks_secret(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    [
        "secret",
        "password",
        "passwd",
        "token",
        "access_key",
        "accesskey",
        "credential",
        "private",
    ]
    .iter()
    .any(|word| key.contains(word))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_one_based_characters() {
        let text = "a = 1\nname = \"Objekt\u{e4}\" x\n\ny";
        let mut map = SourceMap::new(text);
        let at = |map: &mut SourceMap, needle: &str| {
            let i = text.find(needle).unwrap_or(0);
            let l = map.locate(i..i + needle.len());
            (l.line, l.column, l.snippet.start, l.snippet.len)
        };
        assert_eq!(at(&mut map, "a"), (1, 1, 0, 1));
        assert_eq!(at(&mut map, "x"), (2, 18, 17, 1));
        assert_eq!(at(&mut map, "y"), (4, 1, 0, 1));
        let end = map.locate(text.len()..text.len());
        assert_eq!((end.line, end.column), (4, 2));
    }

    #[test]
    fn memo_does_not_leak_across_lines_or_backwards() {
        let text = "abc = 1\ndef = 2\n";
        let mut map = SourceMap::new(text);
        assert_eq!(map.locate(10..11).column, 3);
        assert_eq!(map.locate(2..3).column, 3);
        assert_eq!(map.locate(14..15).column, 7);
        assert_eq!(map.locate(9..10).column, 2);
    }

    #[test]
    fn long_lines_are_cut_around_the_marker() {
        let text = format!("x = \"{}BAD{}\"", "a".repeat(5000), "b".repeat(5000));
        let start = text.find("BAD").unwrap_or(0);
        let l = SourceMap::new(&text).locate(start..start + 3);
        assert_eq!(l.column, start + 1);
        assert!(l.snippet.text.starts_with('…') && l.snippet.text.ends_with('…'));
        assert!(l.snippet.text.chars().count() < 120);
        let marked: String = l
            .snippet
            .text
            .chars()
            .skip(l.snippet.start)
            .take(l.snippet.len)
            .collect();
        assert_eq!(marked, "BAD");
    }

    #[test]
    fn secrets_and_control_characters_are_not_printed() {
        let text = "access_key_secret = \"hunter2\"\x1b";
        let l = SourceMap::new(text).locate(0..17);
        assert!(!l.snippet.text.contains("hunter2"), "{}", l.snippet.text);
        assert!(!l.snippet.text.contains('\x1b'));
        assert!(l.snippet.text.starts_with("access_key_secret ="));
    }

    #[test]
    fn crlf_and_spans_past_the_line_end() {
        let text = "[provider]\r\nregion = 1\r\n";
        let l = SourceMap::new(text).locate(0..text.len());
        assert_eq!(l.snippet.text, "[provider]");
        assert_eq!(l.snippet.len, 10);
    }
}
