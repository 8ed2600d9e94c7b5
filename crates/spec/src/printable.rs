//! Text from outside (a manifest, a file name, a server's answer) made safe to print: a
//! terminal acts on control characters (ESC starts colour, title and screen-clearing
//! sequences, BEL rings), so every printer passes such text through [`escape`] or
//! [`escape_lines`] and the controls show as `\u{1b}` instead of acting.

use std::borrow::Cow;
use std::fmt::Write as _;

/// `text` with every control character written out: `\n`, `\r`, `\t`, else `\u{1b}` style.
/// Bidirectional overrides (which reorder what a reader sees) are written out too.
pub fn escape(text: &str) -> Cow<'_, str> {
    escape_keeping(text, &[])
}

/// [`escape`], keeping line breaks and tabs: for text that is several lines on purpose.
pub fn escape_lines(text: &str) -> Cow<'_, str> {
    escape_keeping(text, &['\n', '\t'])
}

fn escape_keeping<'a>(text: &'a str, keep: &[char]) -> Cow<'a, str> {
    let unsafe_char = |c: char| !keep.contains(&c) && is_unprintable(c);
    if !text.chars().any(unsafe_char) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if !unsafe_char(c) {
            out.push(c);
            continue;
        }
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c => {
                let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
            }
        }
    }
    Cow::Owned(out)
}

/// C0, DEL and C1 controls, and the bidirectional embedding, override and isolate marks.
fn is_unprintable(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_are_written_out() {
        let table = [
            ("plain", "plain"),
            ("对象存储 café", "对象存储 café"),
            (
                "\u{1b}[31mevil\u{1b}]0;pwned\u{7}",
                "\\u{1b}[31mevil\\u{1b}]0;pwned\\u{7}",
            ),
            ("a\nb\tc\rd", "a\\nb\\tc\\rd"),
            ("nul\0del\u{7f}csi\u{9b}", "nul\\u{0}del\\u{7f}csi\\u{9b}"),
            ("abc\u{202e}fed", "abc\\u{202e}fed"),
            ("back\\slash", "back\\slash"),
            ("", ""),
        ];
        for (input, want) in table {
            assert_eq!(escape(input), want, "{input:?}");
        }
    }

    #[test]
    fn lines_keep_their_breaks_and_tabs() {
        let table = [
            ("one\ntwo\tthree", "one\ntwo\tthree"),
            ("one\r\ntwo", "one\\r\ntwo"),
            ("x\u{1b}[2Jy\n", "x\\u{1b}[2Jy\n"),
        ];
        for (input, want) in table {
            assert_eq!(escape_lines(input), want, "{input:?}");
        }
    }

    #[test]
    fn clean_text_is_not_copied() {
        assert!(matches!(escape("products.pai"), Cow::Borrowed(_)));
        assert!(matches!(escape_lines("a\nb"), Cow::Borrowed(_)));
    }
}
