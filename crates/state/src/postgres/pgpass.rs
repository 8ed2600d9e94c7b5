//! The PostgreSQL password file (`~/.pgpass` or `PGPASSFILE`), read by libpq's rules: one
//! `hostname:port:database:username:password` per line, `*` matching anything in the first four
//! fields, `\:` and `\\` escaping, `#` starting a comment, the first matching line winning, and
//! a file that its group or others may read ignored with a warning.

use std::path::Path;

/// What a line must match.
#[derive(Debug, Clone, Copy)]
pub struct Key<'a> {
    pub host: &'a str,
    pub port: u16,
    pub dbname: &'a str,
    pub user: &'a str,
}

/// The password of the first line of `contents` matching `key`.
pub fn lookup(contents: &str, key: &Key<'_>) -> Option<String> {
    let port = key.port.to_string();
    let wanted = [key.host, port.as_str(), key.dbname, key.user];
    contents
        .lines()
        .map(|l| l.trim_end_matches('\r'))
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(split)
        .find(|(fields, _)| fields.iter().zip(wanted).all(|(f, w)| f == "*" || f == w))
        .map(|(_, password)| password)
}

/// Reads `file` and looks `key` up. `Ok(None)` when the file does not exist or has no match;
/// `Err` (a warning to log) when it exists but may not or cannot be used.
pub fn lookup_file(file: &Path, key: &Key<'_>) -> Result<Option<String>, String> {
    let meta = match std::fs::metadata(file) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("password file {}: {e}", file.display())),
    };
    if !meta.is_file() {
        return Err(format!("password file {} is not a plain file; ignored", file.display()));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if meta.permissions().mode() & 0o077 != 0 {
            return Err(format!(
                "password file {} has group or world access and was ignored; permissions should be u=rw (0600) \
                 or less",
                file.display()
            ));
        }
    }
    let contents = std::fs::read_to_string(file).map_err(|e| format!("password file {}: {e}", file.display()))?;
    Ok(lookup(&contents, key))
}

/// The four key fields and the password of one line; `None` for a line with fewer fields.
fn split(line: &str) -> Option<([String; 4], String)> {
    let mut fields: Vec<String> = Vec::with_capacity(5);
    let mut current = String::new();
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => current.extend(chars.next()),
            ':' if fields.len() < 4 => fields.push(std::mem::take(&mut current)),
            c => current.push(c),
        }
    }
    if fields.len() < 4 {
        return None;
    }
    let [host, port, db, user]: [String; 4] = fields.try_into().ok()?;
    Some(([host, port, db, user], current))
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: Key<'static> = Key {
        host: "db.internal",
        port: 5432,
        dbname: "infra",
        user: "deploy",
    };

    #[test]
    fn lookup_table() {
        let cases: &[(&str, &str, Option<&str>)] = &[
            ("exact", "db.internal:5432:infra:deploy:pw1", Some("pw1")),
            ("wildcards", "*:*:*:*:pw2", Some("pw2")),
            ("wrong port", "db.internal:5433:infra:deploy:x", None),
            ("wrong user", "db.internal:5432:infra:other:x", None),
            ("first match wins", "*:*:*:deploy:one\n*:*:*:*:two", Some("one")),
            (
                "comment and blank",
                "# db.internal:5432:infra:deploy:no\n\n*:5432:*:*:yes",
                Some("yes"),
            ),
            ("escaped colon in password", "*:*:*:*:a\\:b", Some("a:b")),
            ("colon in password unescaped", "*:*:*:*:a:b", Some("a:b")),
            ("escaped backslash", "*:*:*:*:a\\\\b", Some("a\\b")),
            ("escaped colon in host", "db\\:x:*:*:*:no\n*:*:*:*:yes", Some("yes")),
            ("short line skipped", "db.internal:5432:infra\n*:*:*:*:yes", Some("yes")),
            ("crlf", "*:*:*:*:pw\r\n", Some("pw")),
            ("empty password", "*:*:*:*:", Some("")),
        ];
        for (name, contents, want) in cases {
            assert_eq!(lookup(contents, &KEY).as_deref(), *want, "{name}");
        }
    }

    #[cfg(unix)]
    #[test]
    fn files_readable_by_others_are_ignored() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join(".pgpass");
        assert_eq!(lookup_file(&file, &KEY), Ok(None));
        std::fs::write(&file, "*:*:*:*:pw\n").unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = lookup_file(&file, &KEY).unwrap_err();
        assert!(err.contains("0600"), "{err}");
        assert!(!err.contains("pw\n"), "{err}");
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(lookup_file(&file, &KEY), Ok(Some("pw".into())));
    }
}
