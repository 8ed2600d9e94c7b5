//! The plan comment of a pull request: one per key (a manifest or a fleet), found again by a
//! hidden marker line, updated in place on every push, and fitted to the forge's limit
//! (`docs/forge.md`, "The plan comment"). Only the token's own comments count
//! ([`crate::identity`]).

use crate::identity::{Author, Identity};

/// Why a key is not one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the key `{}` is not one: 1 to 100 letters, digits and `._/@+-` (it goes into a hidden HTML comment)",
    pai_spec::escape(.0)
)]
pub struct KeyError(pub String);

/// Refuses a key that could break out of the marker (`-->`), span lines, or be confused with
/// another (`:` separates the drift marker's fields).
pub fn check_key(key: &str) -> Result<(), KeyError> {
    let ok = (1..=100).contains(&key.len())
        && key.chars().all(|c| c.is_ascii_alphanumeric() || "._/@+-".contains(c))
        && !key.contains("--");
    if ok {
        Ok(())
    } else {
        Err(KeyError(key.to_owned()))
    }
}

/// The hidden line that marks the plan comment of `key`.
pub fn marker(key: &str) -> String {
    format!("<!-- pai-provision:plan:{key} -->")
}

/// Whether `body` carries `marker` as a line of its own (a comment quoting it inline does not).
pub fn carries(body: &str, marker: &str) -> bool {
    body.lines().any(|line| line.trim() == marker)
}

/// A comment as the forge lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Comment {
    /// The forge's id; ids grow with time on both forges.
    pub id: u64,
    pub body: String,
    /// Its page, when the forge says (GitLab's notes do not).
    pub url: Option<String>,
    pub author: Author,
}

/// What to do with the plan comment of a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommentAction {
    Create,
    Update { id: u64 },
}

/// Create the comment, or update the oldest of `me`'s that carries the key's marker: the one a
/// reviewer has seen since the first push. Others of `me`'s carrying it (two jobs that raced on
/// the first push) are left as they are, and so is anybody else's: a marker line anyone can
/// paste proves nothing, and the apply jobs read the digest from `me`'s comment only.
pub fn decide(existing: &[Comment], key: &str, me: &Identity) -> CommentAction {
    let marker = marker(key);
    existing
        .iter()
        .filter(|c| carries(&c.body, &marker) && me.wrote(&c.author))
        .map(|c| c.id)
        .min()
        .map_or(CommentAction::Create, |id| CommentAction::Update { id })
}

/// The comments that carry the key's marker but are not `me`'s: ignored, said at `-v`.
pub fn strangers<'a>(existing: &'a [Comment], key: &str, me: &Identity) -> Vec<&'a Comment> {
    let marker = marker(key);
    existing
        .iter()
        .filter(|c| carries(&c.body, &marker) && !me.wrote(&c.author))
        .collect()
}

/// A body cut to fit, and how much was left out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fitted {
    pub body: String,
    /// Lines of the text left out; 0 when it fit whole.
    pub lines_left_out: usize,
}

/// Why no body fits.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "a comment of at most {limit} characters cannot hold even the marker and the pointer to the full plan ({needed})"
)]
pub struct TooSmall {
    pub limit: usize,
    pub needed: usize,
}

/// The comment's body: the marker line, then `text`, within `limit` characters (Unicode
/// scalar values, as both forges count). Too long, it is cut after the last whole line that
/// leaves room for closing what is open there (a ```` ``` ```` fence, `<details>` blocks) and
/// for a line saying how much was left out and where the full plan is (`pointer`). A plan's
/// digest line (`Plan digest: ...`, `Fleet plan digest: ...`), the text's last, is kept last:
/// the apply jobs read the digest the reviewers saw from it (docs/gitops.md).
pub fn fit(key: &str, text: &str, limit: usize, pointer: Option<&str>) -> Result<Fitted, TooSmall> {
    let trimmed = text.trim_end_matches('\n');
    let last = trimmed.rsplit('\n').next().unwrap_or("");
    if !(last.starts_with("Plan digest: ") || last.starts_with("Fleet plan digest: ")) {
        return fit_lines(key, text, limit, pointer);
    }
    let tail = format!("{last}\n");
    let whole = marker(key).chars().count() + 1 + text.chars().count();
    if whole <= limit {
        return fit_lines(key, text, limit, pointer);
    }
    let before = &trimmed[..trimmed.len() - last.len()];
    let reserved = tail.chars().count();
    let mut fitted = fit_lines(key, before, limit.saturating_sub(reserved), pointer).map_err(|e| TooSmall {
        limit,
        needed: e.needed + reserved,
    })?;
    fitted.body.push_str(&tail);
    Ok(fitted)
}

/// [`fit`] without the digest line.
fn fit_lines(key: &str, text: &str, limit: usize, pointer: Option<&str>) -> Result<Fitted, TooSmall> {
    let head = format!("{}\n", marker(key));
    let text = if text.ends_with('\n') || text.is_empty() {
        text.to_owned()
    } else {
        format!("{text}\n")
    };
    let whole = head.chars().count() + text.chars().count();
    if whole <= limit {
        return Ok(Fitted {
            body: format!("{head}{text}"),
            lines_left_out: 0,
        });
    }
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    // The longest the last line can be: with every line left out.
    let budget_note = note(lines.len(), text.chars().count(), pointer).chars().count();
    let mut open = Open::default();
    let mut used = head.chars().count();
    // (lines kept, what is open after them)
    let mut best: Option<(usize, Open)> = None;
    for kept in 0..=lines.len() {
        if kept > 0 {
            let line = lines[kept - 1];
            used += line.chars().count();
            open.after(line);
        }
        // A line adds at least about what it closes: past the first cut that does not fit, a
        // later one could only gain a character or two, at the cost of a longer scan.
        if used + open.closing().chars().count() + budget_note > limit {
            break;
        }
        best = Some((kept, open.clone()));
    }
    let Some((kept, open)) = best else {
        return Err(TooSmall {
            limit,
            needed: head.chars().count() + budget_note,
        });
    };
    let left_lines = lines.len() - kept;
    let left_chars: usize = lines[kept..].iter().map(|l| l.chars().count()).sum();
    let mut body = head;
    body.extend(lines[..kept].iter().copied());
    body.push_str(&open.closing());
    body.push_str(&note(left_lines, left_chars, pointer));
    Ok(Fitted {
        body,
        lines_left_out: left_lines,
    })
}

/// The last line of a cut body.
fn note(lines: usize, chars: usize, pointer: Option<&str>) -> String {
    let whence = match pointer {
        Some(url) => format!("the full plan is at {url}"),
        None => "the full plan is in the CI run's output".to_owned(),
    };
    format!(
        "\n**Plan cut to fit the comment: {lines} more {} ({chars} characters) left out; {whence}.**\n",
        if lines == 1 { "line" } else { "lines" }
    )
}

/// What is open after some lines of Markdown: a fenced code block, and `<details>` blocks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Open {
    /// The opening fence (its character repeated), inside a fenced code block.
    fence: Option<String>,
    details: usize,
}

impl Open {
    fn after(&mut self, line: &str) {
        let trimmed = line.trim_end_matches(['\n', '\r']);
        let indent = trimmed.len() - trimmed.trim_start_matches(' ').len();
        let rest = &trimmed[indent..];
        let fence_of = |c: char| {
            let n = rest.chars().take_while(|&x| x == c).count();
            (indent <= 3 && n >= 3).then(|| (c.to_string().repeat(n), rest[n..].trim()))
        };
        let run = fence_of('`').or_else(|| fence_of('~'));
        match (&self.fence, run) {
            // A closing fence: the same character, at least as long, nothing after it.
            (Some(open), Some((close, info))) => {
                if close.starts_with(open.as_str()) && info.is_empty() {
                    self.fence = None;
                }
            }
            (Some(_), None) => {}
            (None, Some((open, _))) => self.fence = Some(open),
            (None, None) => {
                self.details += trimmed.matches("<details").count();
                self.details = self.details.saturating_sub(trimmed.matches("</details>").count());
            }
        }
    }

    fn closing(&self) -> String {
        let mut s = String::new();
        if let Some(fence) = &self.fence {
            s.push_str(fence);
            s.push('\n');
        }
        for _ in 0..self.details {
            s.push_str("</details>\n");
        }
        s
    }
}

#[cfg(test)]
mod tests;
