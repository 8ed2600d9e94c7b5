//! The canonical layout of `fmt`, keeping every comment.
//!
//! Layout: an optional file header comment, `[provider]`, `[state]`, then one
//! `[products.<address>]` table per product sorted by address. Keys come in a fixed order
//! (the order of [`crate::keys::KEYS`], which is that of `docs/manifest.md`); instance properties and per-region endpoints are
//! dotted keys (`properties.region = "cn-shanghai"`) sorted by name, a property with a
//! `name` as `{ value = "...", name = "..." }`. Strings are basic strings, one blank line
//! separates tables, none separates keys, line endings are `\n`.
//!
//! Comments stay with what they annotate: a comment directly above a key or a table header
//! moves with it, a trailing comment stays on its line. A comment block separated from the
//! next header by a blank line closes the table before it (the commented-out keys at the end
//! of `[provider]`, say) and stays at that table's end; above the first table it is the file
//! header and stays at the top. Comments of flattened structures (an inline
//! `properties = { .. }`, a `[products.x.properties]` table) move above the first line that
//! replaces them, or to the table's end when nothing replaces them.

use std::collections::BTreeMap;

use toml_edit::{Decor, DocumentMut, InlineTable, Item, Key, TableLike, Value};

use crate::error::SpecError;
use crate::keys::{self, Section};

/// The canonical layout of a valid manifest. An invalid manifest is refused with its
/// diagnostics, exactly as [`crate::parse`] reports them.
pub fn format(source: &[u8], file_name: &str) -> Result<String, SpecError> {
    crate::load::parse(source, file_name)?;
    let text = String::from_utf8_lossy(source);
    let mut doc: DocumentMut = text.parse().map_err(|e: toml_edit::TomlError| SpecError::Invalid {
        file: file_name.to_owned(),
        diagnostics: crate::load::analyse(e.to_string().as_bytes(), file_name).1,
    })?;
    let detached = detach(&mut doc);
    let mut out = Emitter {
        closings: detached.closing,
        ..Emitter::default()
    };
    out.lines(&normalize(detached.header));
    let root = doc.as_table();
    if let Some((key, item)) = root.get_key_value("provider") {
        out.provider(key, item);
    }
    if let Some((key, item)) = root.get_key_value("state") {
        out.simple_table("state", key, item, Section::State);
    }
    if let Some((key, item)) = root.get_key_value("products") {
        out.products(key, item);
    }
    // Comments left over (above nothing, like those of an empty `properties = {}`) join the
    // comments at the end of the file: that is where a re-read attaches them too.
    let mut rest = std::mem::take(&mut out.pending);
    for (_, lines) in std::mem::take(&mut out.closings) {
        rest.extend(lines);
    }
    rest.extend(comment_lines(doc.trailing().as_str()));
    let rest = normalize(rest);
    if !rest.is_empty() {
        out.text.push('\n');
        out.lines(&rest);
    }
    Ok(out.text)
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Line {
    Comment(String),
    Blank,
}

/// The comment lines of a decor prefix; whitespace-only lines count as blank.
fn comment_lines(raw: Option<&str>) -> Vec<Line> {
    let Some(raw) = raw else {
        return Vec::new();
    };
    let mut lines: Vec<Line> = raw
        .split('\n')
        .map(str::trim)
        .map(|l| {
            if l.starts_with('#') {
                Line::Comment(l.to_owned())
            } else {
                Line::Blank
            }
        })
        .collect();
    // The last piece is the indentation of the line that owns the decor, not a blank line.
    if lines.last() == Some(&Line::Blank) {
        lines.pop();
    }
    lines
}

/// A trailing comment (`# ...`) in a suffix decor.
fn trailing_comment(raw: Option<&str>) -> Option<String> {
    let raw = raw?;
    raw.find('#').map(|i| raw[i..].trim().to_owned())
}

/// No leading, trailing or repeated blank lines.
fn normalize(lines: Vec<Line>) -> Vec<Line> {
    let mut out: Vec<Line> = Vec::new();
    for line in lines {
        if line == Line::Blank && (out.is_empty() || out.last() == Some(&Line::Blank)) {
            continue;
        }
        out.push(line);
    }
    if out.last() == Some(&Line::Blank) {
        out.pop();
    }
    out
}

fn decor_prefix(decor: &Decor) -> Vec<Line> {
    comment_lines(decor.prefix().and_then(|r| r.as_str()))
}

fn decor_suffix(decor: &Decor) -> Option<String> {
    trailing_comment(decor.suffix().and_then(|r| r.as_str()))
}

/// Comments on a key: above its line, and inside dotted paths.
fn key_comments(key: &Key) -> Vec<Line> {
    let mut lines = decor_prefix(key.leaf_decor());
    lines.extend(decor_prefix(key.dotted_decor()));
    lines
}

/// Every comment inside an item that is flattened into other lines, in source order.
fn deep_comments(item: &Item, out: &mut Vec<Line>) {
    match item {
        Item::Table(t) => {
            out.extend(decor_prefix(t.decor()));
            out.extend(decor_suffix(t.decor()).map(Line::Comment));
            for (k, v) in t.iter() {
                if let Some(key) = t.key(k) {
                    out.extend(key_comments(key));
                }
                deep_comments(v, out);
            }
        }
        Item::Value(v) => out.extend(decor_suffix(v.decor()).map(Line::Comment)),
        Item::None | Item::ArrayOfTables(_) => {}
    }
}

/// Comments above a table: its header's, or the line of an inline table.
fn table_prefix(key: &Key, item: &Item) -> Vec<Line> {
    let mut lines = key_comments(key);
    if let Item::Table(t) = item {
        lines.extend(decor_prefix(t.decor()));
    }
    lines
}

/// The comment on a table's header line, or after an inline table.
fn table_suffix(item: &Item) -> Option<String> {
    match item {
        Item::Table(t) => decor_suffix(t.decor()),
        Item::Value(v) => decor_suffix(v.decor()),
        Item::None | Item::ArrayOfTables(_) => None,
    }
}

/// Comment blocks that end a table rather than open the next one, by owning table.
#[derive(Default)]
struct Detached {
    /// The file's opening comment block.
    header: Vec<Line>,
    /// Owner (`provider`, `state`, `products`, `products.<name>`) to its closing comments.
    closing: BTreeMap<String, Vec<Line>>,
}

/// A comment block above a `[header]` that is separated from it by a blank line closes the
/// table before it (or, above the first table, opens the file). Such blocks are moved out
/// of the header's decor, so that they stay where they were when tables are reordered.
fn detach(doc: &mut DocumentMut) -> Detached {
    let mut out = Detached::default();
    let root = doc.as_table_mut();
    // Root key-values (inline tables, dotted keys) precede every header: the file header is
    // theirs, cut off the first of them.
    let first_value = take_header(root);
    if let Some(head) = &first_value {
        out.header = head.clone();
    }
    let mut headers: Vec<(usize, Vec<String>)> = Vec::new();
    collect_headers(root, &mut Vec::new(), &mut headers);
    headers.sort();
    let mut previous: Option<String> = None;
    for (_, path) in &headers {
        let Some(table) = table_at(root, path) else {
            continue;
        };
        let (head, tail) = split_at_last_blank(table.decor_mut());
        table.decor_mut().set_prefix(tail);
        match &previous {
            Some(owner) => out.closing.entry(owner.clone()).or_default().extend(head),
            None if first_value.is_none() => out.header = head,
            None => out.closing.entry(owner(path)).or_default().extend(head),
        }
        previous = Some(owner(path));
    }
    if let Some(last) = previous {
        let trailing = comment_lines(doc.trailing().as_str());
        out.closing.entry(last).or_default().extend(trailing);
        doc.set_trailing("");
    }
    out
}

/// The comments above the file's first key-value line, cut at their last blank line: what
/// comes before the blank is the file header and is returned, the rest stays with the key.
/// A dotted key (`products.zeta.code = ..`) keeps its line's comments on its last part, so
/// the search goes down dotted tables; `None` when the file starts with a `[header]`.
fn take_header(table: &mut toml_edit::Table) -> Option<Vec<Line>> {
    let first = table
        .iter()
        .find(|(_, i)| i.is_value() || i.as_table().is_some_and(toml_edit::Table::is_dotted))
        .map(|(k, _)| k.to_owned())?;
    if table.get(&first).is_some_and(Item::is_value) {
        let mut key = table.key_mut(&first)?;
        let (head, tail) = split_at_last_blank(key.leaf_decor_mut());
        key.leaf_decor_mut().set_prefix(tail);
        return Some(head);
    }
    take_header(table.get_mut(&first)?.as_table_mut()?)
}

/// The table whose emission carries a header table's comments.
fn owner(path: &[String]) -> String {
    match path {
        [top, name, ..] if top == "products" => format!("products.{name}"),
        [top, ..] => top.clone(),
        [] => String::new(),
    }
}

fn collect_headers(table: &toml_edit::Table, path: &mut Vec<String>, out: &mut Vec<(usize, Vec<String>)>) {
    for (name, item) in table.iter() {
        let Item::Table(t) = item else {
            continue;
        };
        path.push(name.to_owned());
        if let Some(position) = t.position().filter(|_| !t.is_implicit() && !t.is_dotted()) {
            out.push((position, path.clone()));
        }
        collect_headers(t, path, out);
        path.pop();
    }
}

fn table_at<'t>(root: &'t mut toml_edit::Table, path: &[String]) -> Option<&'t mut toml_edit::Table> {
    let (first, rest) = path.split_first()?;
    let table = root.get_mut(first)?.as_table_mut()?;
    if rest.is_empty() {
        Some(table)
    } else {
        table_at(table, rest)
    }
}

/// A decor prefix cut at its last blank line: what comes before it, what stays.
fn split_at_last_blank(decor: &Decor) -> (Vec<Line>, String) {
    let lines = comment_lines(decor.prefix().and_then(|r| r.as_str()));
    let Some(cut) = lines.iter().rposition(|l| *l == Line::Blank) else {
        return (Vec::new(), render_lines(&lines));
    };
    (lines[..cut].to_vec(), render_lines(&lines[cut + 1..]))
}

fn render_lines(lines: &[Line]) -> String {
    lines
        .iter()
        .map(|l| match l {
            Line::Comment(c) => format!("{c}\n"),
            Line::Blank => "\n".to_owned(),
        })
        .collect()
}

#[derive(Default)]
struct Emitter {
    text: String,
    closings: BTreeMap<String, Vec<Line>>,
    /// Comments waiting for the next line to stand above.
    pending: Vec<Line>,
}

impl Emitter {
    fn lines(&mut self, lines: &[Line]) {
        for line in lines {
            match line {
                Line::Comment(c) => self.text.push_str(c),
                Line::Blank => {}
            }
            self.text.push('\n');
        }
    }

    /// The comments that close a table, after its last key (with what is still pending).
    fn closing(&mut self, owner: &str) {
        let mut lines = std::mem::take(&mut self.pending);
        lines.extend(self.closings.remove(owner).unwrap_or_default());
        let keep_blank = lines.first() == Some(&Line::Blank);
        let mut lines = normalize(lines);
        if keep_blank && !lines.is_empty() {
            lines.insert(0, Line::Blank);
        }
        self.lines(&lines);
    }

    fn line(&mut self, mut above: Vec<Line>, content: &str, trailing: Option<String>) {
        let mut all = std::mem::take(&mut self.pending);
        all.append(&mut above);
        self.lines(&normalize(all));
        self.text.push_str(content);
        if let Some(c) = trailing {
            self.text.push(' ');
            self.text.push_str(&c);
        }
        self.text.push('\n');
    }

    fn header(&mut self, header: &str, above: Vec<Line>, trailing: Option<String>) {
        if !self.text.is_empty() {
            self.text.push('\n');
        }
        self.line(above, &format!("[{header}]"), trailing);
    }

    /// `key = value` for a scalar entry of a table.
    fn entry(&mut self, table: &dyn TableLike, name: &str, display_key: &str) {
        let Some((key, item)) = table.get_key_value(name) else {
            return;
        };
        let trailing = item.as_value().and_then(|v| decor_suffix(v.decor()));
        let mut above = key_comments(key);
        if item.is_table() {
            deep_comments(item, &mut above);
        }
        self.line(above, &format!("{display_key} = {}", scalar(item)), trailing);
    }

    fn provider(&mut self, key: &Key, item: &Item) {
        let Some(table) = item.as_table_like() else {
            return;
        };
        self.header("provider", table_prefix(key, item), table_suffix(item));
        self.keys(table, Section::Provider);
        self.closing("provider");
    }

    fn simple_table(&mut self, header: &str, key: &Key, item: &Item, section: Section) {
        let Some(table) = item.as_table_like() else {
            return;
        };
        self.header(header, table_prefix(key, item), table_suffix(item));
        self.keys(table, section);
        self.closing(header);
    }

    /// A table's keys in the order of the key table: values first, then sub-tables as dotted keys.
    fn keys(&mut self, table: &dyn TableLike, section: Section) {
        for k in keys::in_section(section).filter(|k| k.kind.is_scalar()) {
            self.entry(table, k.name, k.name);
        }
        for k in keys::in_section(section).filter(|k| !k.kind.is_scalar()) {
            if let Some((key, sub)) = table.get_key_value(k.name) {
                self.dotted(k.name, key, sub);
            }
        }
    }

    fn products(&mut self, key: &Key, item: &Item) {
        let Some(table) = item.as_table_like() else {
            return;
        };
        self.pending.extend(table_prefix(key, item));
        self.pending.extend(table_suffix(item).map(Line::Comment));
        self.pending
            .extend(self.closings.remove("products").unwrap_or_default());
        let mut entries: Vec<(&str, &Item)> = table.iter().collect();
        entries.sort_by(|a, b| a.0.cmp(b.0));
        for (name, product) in entries {
            let Some(key) = table.key(name) else {
                continue;
            };
            let Some(body) = product.as_table_like() else {
                continue;
            };
            let header = format!("products.{}", Key::new(name).display_repr());
            self.header(&header, table_prefix(key, product), table_suffix(product));
            self.keys(body, Section::Product);
            self.closing(&format!("products.{name}"));
        }
    }

    /// A sub-table as dotted keys sorted by name: `properties.region = "cn-shanghai"`.
    fn dotted(&mut self, prefix: &str, key: &Key, item: &Item) {
        self.pending.extend(table_prefix(key, item));
        self.pending.extend(table_suffix(item).map(Line::Comment));
        let Some(table) = item.as_table_like() else {
            return;
        };
        let mut names: Vec<&str> = table.iter().map(|(k, _)| k).collect();
        names.sort_unstable();
        for name in names {
            let display = format!("{prefix}.{}", Key::new(name).display_repr());
            self.entry(table, name, &display);
        }
    }
}

/// A value in canonical form: basic strings, decimal integers, and `{ value, name }`
/// tables (a table with only `value` becomes a plain string).
fn scalar(item: &Item) -> String {
    if let Some(table) = item.as_table_like() {
        let value = table.get("value").and_then(Item::as_str).unwrap_or_default();
        return match table.get("name").and_then(Item::as_str) {
            Some(name) => {
                let mut inline = InlineTable::new();
                inline.insert("value", Value::from(value));
                inline.insert("name", Value::from(name));
                Value::InlineTable(inline).to_string()
            }
            None => Value::from(value).to_string(),
        };
    }
    match item.as_value() {
        Some(Value::String(s)) => Value::from(s.value().as_str()).to_string(),
        Some(Value::Integer(i)) => i.value().to_string(),
        Some(Value::Boolean(b)) => b.value().to_string(),
        Some(other) => other.clone().decorated("", "").to_string(),
        None => item.to_string().trim().to_owned(),
    }
}
