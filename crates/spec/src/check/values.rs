//! Typed reads of TOML values. Each returns `None` after recording why the value is unusable.

use toml_edit::{Item, TableLike, Value};

use super::{Checker, Span};
use crate::model::Region;

/// "a string", "an integer", ...: how a value's type reads in a sentence.
pub(crate) fn describe(item: &Item) -> &'static str {
    match item {
        Item::None => "nothing",
        Item::Value(Value::String(_)) => "a string",
        Item::Value(Value::Integer(_)) => "an integer",
        Item::Value(Value::Float(_)) => "a float",
        Item::Value(Value::Boolean(_)) => "a boolean",
        Item::Value(Value::Datetime(_)) => "a date-time",
        Item::Value(Value::Array(_)) => "an array",
        Item::Value(Value::InlineTable(_)) | Item::Table(_) => "a table",
        Item::ArrayOfTables(_) => "an array of tables",
    }
}

fn wrong_type(checker: &mut Checker, item: &Item, path: &str, want: &str, example: &str) {
    checker.error(
        item.span(),
        format!("`{path}` must be {want}, not {}", describe(item)),
        format!("for example `{example}`"),
    );
}

pub(crate) fn string<'a>(
    checker: &mut Checker,
    item: &'a Item,
    path: &str,
    example: &str,
) -> Option<(&'a str, Option<Span>)> {
    match item.as_str() {
        Some(s) => Some((s, item.span())),
        None => {
            wrong_type(checker, item, path, "a string", example);
            None
        }
    }
}

pub(crate) fn boolean(checker: &mut Checker, item: &Item, path: &str) -> Option<bool> {
    match item.as_bool() {
        Some(b) => Some(b),
        None => {
            let key = path.rsplit('.').next().unwrap_or(path);
            let example = format!("{key} = true");
            if let Some(s) = item
                .as_str()
                .filter(|s| matches!(s.to_ascii_lowercase().as_str(), "true" | "false"))
            {
                checker.error(
                    item.span(),
                    format!("`{path}` must be a boolean, not a string"),
                    format!("write `{key} = {}` without quotes", s.to_ascii_lowercase()),
                );
            } else {
                wrong_type(checker, item, path, "a boolean", &example);
            }
            None
        }
    }
}

pub(crate) fn integer(checker: &mut Checker, item: &Item, path: &str, example: &str) -> Option<(i64, Option<Span>)> {
    match item.as_integer() {
        Some(i) => Some((i, item.span())),
        None => {
            if let Some(n) = item.as_str().and_then(|s| s.trim().parse::<i64>().ok()) {
                let key = path.rsplit('.').next().unwrap_or(path);
                checker.error(
                    item.span(),
                    format!("`{path}` must be an integer, not a string"),
                    format!("write `{key} = {n}` without quotes"),
                );
            } else {
                wrong_type(checker, item, path, "an integer", example);
            }
            None
        }
    }
}

pub(crate) fn table<'a>(
    checker: &mut Checker,
    item: &'a Item,
    path: &str,
    key_span: Option<Span>,
) -> Option<&'a dyn TableLike> {
    match item.as_table_like() {
        Some(t) => Some(t),
        None => {
            let hint = if path.starts_with("products") && !path.contains('.') {
                "write one `[products.<address>]` table per product, for example `[products.pai]`".to_string()
            } else {
                format!("write `[{path}]` followed by its keys, or `{path} = {{ ... }}`")
            };
            checker.error(
                item.span().or(key_span),
                format!("`{path}` must be a table, not {}", describe(item)),
                hint,
            );
            None
        }
    }
}

pub(crate) fn region_hint(input: &str) -> String {
    let guess = input.trim().to_ascii_lowercase().replace(['_', ' ', '.'], "-");
    match Region::parse(&guess) {
        Ok(r) if r.as_str() != input => {
            format!("did you mean `{r}`? a region id looks like `cn-hangzhou` or `ap-southeast-1`")
        }
        _ => "a region id is lower-case words joined by `-`, like `cn-hangzhou` or `ap-southeast-1`".to_string(),
    }
}

pub(crate) fn region(checker: &mut Checker, item: &Item, path: &str) -> Option<Region> {
    let (s, span) = string(checker, item, path, "region = \"cn-hangzhou\"")?;
    match Region::parse(s) {
        Ok(r) => Some(r),
        Err(_) => {
            checker.error(span, format!("invalid region `{s}`"), region_hint(s));
            None
        }
    }
}

/// An endpoint URL, by the rule of [`crate::endpoint::check_endpoint`].
pub(crate) fn endpoint(checker: &mut Checker, item: &Item, path: &str) -> Option<String> {
    let key = path.rsplit('.').next().unwrap_or(path);
    let (url, span) = string(
        checker,
        item,
        path,
        &format!("{key} = \"https://aiworkspace.{{region}}.aliyuncs.com\""),
    )?;
    match crate::endpoint::check_endpoint(url) {
        Ok(checked) => {
            if checked.insecure {
                checker.warn(
                    span,
                    format!("`{path}` uses plain HTTP: requests and their signatures travel unencrypted"),
                    "use `https://` for anything but a local emulator on 127.0.0.1 or localhost".to_string(),
                );
            }
            Some(url.to_owned())
        }
        Err(e) => {
            // Never echo a URL that may hold a password.
            let shown = if url.contains('@') { "(redacted)" } else { url };
            checker.error(span, format!("invalid endpoint `{shown}`: {}", e.message), e.hint);
            None
        }
    }
}
