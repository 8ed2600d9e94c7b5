use super::*;
use crate::SpecError;

fn manual() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/manifest.md");
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The text under a heading, up to the next heading of any level.
fn chapter<'m>(manual: &'m str, heading: &str) -> &'m str {
    let start = manual
        .find(&format!("\n{heading}\n"))
        .unwrap_or_else(|| panic!("docs/manifest.md has no heading `{heading}`"));
    let body = &manual[start + heading.len() + 2..];
    let end = body.find("\n#").unwrap_or(body.len());
    &body[..end]
}

/// The chapter that documents a section's keys.
fn heading(section: Section) -> &'static str {
    match section {
        Section::Root => "## The file",
        Section::Provider => "## `[provider]`",
        Section::State => "## `[state]`",
        Section::Product => "## `[products.<address>]`",
        Section::Property => "### Instance properties",
    }
}

/// The rows of the `| key | type | default | rule |` table of a chapter, as cells.
fn key_rows(chapter: &str) -> Vec<Vec<&str>> {
    chapter
        .lines()
        .skip_while(|l| !l.starts_with("| key |"))
        .skip(2)
        .take_while(|l| l.starts_with('|'))
        .map(|l| l.trim_matches('|').split(" | ").map(str::trim).collect())
        .collect()
}

#[test]
fn the_manual_documents_every_key() {
    let manual = manual();
    for k in KEYS {
        let text = chapter(&manual, heading(k.section));
        match k.section {
            Section::Provider | Section::State | Section::Product => {
                let rows = key_rows(text);
                let row = rows
                    .iter()
                    .find(|r| r[0] == format!("`{}`", k.name))
                    .unwrap_or_else(|| panic!("`{}` has no row under {}", k.name, heading(k.section)));
                assert_eq!(row[1], k.kind.as_str(), "the type of `{}`", k.name);
                assert_eq!(
                    row[2].starts_with("required"),
                    k.required,
                    "whether `{}` is required",
                    k.name
                );
            }
            Section::Root => assert!(
                text.contains(&format!("`[{}", k.name)),
                "`[{}]` in {}",
                k.name,
                heading(k.section)
            ),
            Section::Property => assert!(
                text.contains(&format!("`{}`", k.name)) || text.contains(&format!("{} = ", k.name)),
                "`{}` in {}",
                k.name,
                heading(k.section)
            ),
        }
    }
}

#[test]
fn every_documented_key_is_in_the_table() {
    let manual = manual();
    for section in [Section::Provider, Section::State, Section::Product] {
        let rows = key_rows(chapter(&manual, heading(section)));
        assert!(!rows.is_empty(), "no key table under {}", heading(section));
        let documented: Vec<&str> = rows.iter().map(|r| r[0].trim_matches('`')).collect();
        assert_eq!(
            documented,
            names(section),
            "the keys under {}, in order",
            heading(section)
        );
    }
}

/// A manifest with every key at its example value, but the one left out.
fn every_key_but(left_out: Option<&ManifestKey>) -> String {
    let keep = |k: &&ManifestKey| Some(*k) != left_out;
    let mut text = String::new();
    for root in in_section(Section::Root).filter(keep) {
        let (header, section) = match root.name {
            "provider" => ("provider", Section::Provider),
            "state" => ("state", Section::State),
            "products" => ("products.oss", Section::Product),
            other => panic!("teach this test the top-level table `{other}`"),
        };
        text.push_str(&format!("[{header}]\n"));
        for k in in_section(section).filter(keep) {
            if k.name == "properties" {
                let parts: Vec<String> = in_section(Section::Property)
                    .filter(keep)
                    .map(|p| format!("{} = {}", p.name, p.example))
                    .collect();
                text.push_str(&format!("properties.commodity_type = {{ {} }}\n", parts.join(", ")));
            } else {
                text.push_str(&format!("{} = {}\n", k.name, k.example));
            }
        }
        text.push('\n');
    }
    text
}

#[test]
fn the_checker_accepts_every_key() {
    let text = every_key_but(None);
    let loaded = crate::parse(text.as_bytes(), "every-key.toml").unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert!(loaded.warnings.is_empty(), "{:?}\n{text}", loaded.warnings);
    assert_eq!(loaded.manifest.products.len(), 1);
}

#[test]
fn the_checker_requires_every_required_key() {
    for k in KEYS.iter().filter(|k| k.required) {
        let text = every_key_but(Some(k));
        let err = crate::parse(text.as_bytes(), "missing.toml").expect_err(&text);
        let SpecError::Invalid { diagnostics, .. } = &err else {
            panic!("{err}");
        };
        let said = |d: &&crate::Diagnostic| {
            d.message.contains(&format!("has no `{}`", k.name)) || d.message.contains(&format!("`[{}]`", k.name))
        };
        assert!(diagnostics.iter().any(|d| said(&d)), "`{}`:\n{err}", k.name);
    }
}

#[test]
fn fmt_writes_the_keys_in_table_order() {
    let text = every_key_but(None);
    let formatted = crate::format(text.as_bytes(), "every-key.toml").unwrap_or_else(|e| panic!("{e}"));
    for (section, header) in [(Section::Provider, "[provider]"), (Section::Product, "[products.oss]")] {
        let start = formatted
            .find(header)
            .unwrap_or_else(|| panic!("{header} in\n{formatted}"));
        let written: Vec<&str> = formatted[start..]
            .lines()
            .skip(1)
            .take_while(|l| !l.is_empty())
            .filter_map(|l| l.split([' ', '.']).next())
            .collect();
        let mut expected: Vec<&str> = in_section(section)
            .filter(|k| k.kind.is_scalar())
            .map(|k| k.name)
            .collect();
        expected.extend(in_section(section).filter(|k| !k.kind.is_scalar()).map(|k| k.name));
        assert_eq!(written, expected, "{header} in\n{formatted}");
    }
}

#[test]
fn hints_know_where_a_key_belongs() {
    assert_eq!(
        belongs_elsewhere(Section::Product, "auto_pay").as_deref(),
        Some("`[provider]` (AutoPay applies to a whole order)")
    );
    assert_eq!(
        belongs_elsewhere(Section::Provider, "duration").as_deref(),
        Some("a `[products.<address>]` table")
    );
    // `region` is valid in both, so it never reaches this question; `url` has no neighbour.
    assert_eq!(belongs_elsewhere(Section::Root, "url"), None);
    assert_eq!(alias_of("instance_properties"), Some("properties"));
    assert_eq!(alias_of("product_code"), Some("code"));
    assert_eq!(alias_of("code"), None);
}
