//! The names a fleet's `AssumeRole` sessions carry, so that the cloud's audit log (ActionTrail)
//! joins the tool's own history: the role session name says which run it is, the
//! `SourceIdentity` which commit (or, run by hand, which user).

/// What STS records for each assumed role of one run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionIdentity {
    /// `pai-provision-<run>`: the CI run (and attempt, or job) when known, else 8 random hex digits.
    pub session_name: String,
    /// The commit (first 12 hex digits) when CI names it, else the local user; `None` when
    /// neither is known.
    pub source_identity: Option<String>,
}

/// The prefix of every role session name.
pub const SESSION_PREFIX: &str = "pai-provision-";

/// Shortest and longest role session name and `SourceIdentity` STS accepts.
const MIN_LEN: usize = 2;
const MAX_LEN: usize = 64;

/// The session identity of this run, read through `env` (`GITHUB_RUN_ID`, `GITHUB_RUN_ATTEMPT`,
/// `CI_PIPELINE_ID`, `CI_JOB_ID`, `GITHUB_SHA`, `CI_COMMIT_SHA`, `USER`, `LOGNAME`).
pub fn session_identity(env: &dyn Fn(&str) -> Option<String>) -> SessionIdentity {
    let random = format!("{:08x}", rand::random::<u32>());
    session_identity_with(env, &random)
}

/// [`session_identity`] with the random run id given, so that it is a pure function.
pub(crate) fn session_identity_with(env: &dyn Fn(&str) -> Option<String>, random: &str) -> SessionIdentity {
    let var = |name: &str| env(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
    let joined = |first: Option<String>, second: Option<String>| match (first, second) {
        (Some(a), Some(b)) => Some(format!("{a}-{b}")),
        (a, b) => a.or(b),
    };
    // A re-run of a GitHub workflow keeps its run id: the attempt tells the two apart. A GitLab
    // pipeline's `parallel` jobs (shards) share the pipeline id: the job id tells them apart.
    let run = var("GITHUB_RUN_ID")
        .map(|id| joined(Some(id), var("GITHUB_RUN_ATTEMPT")).unwrap_or_default())
        .or_else(|| joined(var("CI_PIPELINE_ID"), var("CI_JOB_ID")))
        .unwrap_or_else(|| random.to_owned());
    let session_name = sanitize(&format!("{SESSION_PREFIX}{run}"));
    let commit = ["GITHUB_SHA", "CI_COMMIT_SHA"]
        .into_iter()
        .filter_map(&var)
        .find(|sha| sha.len() >= 12 && sha.bytes().all(|b| b.is_ascii_hexdigit()))
        .map(|sha| sha[..12].to_ascii_lowercase());
    let source_identity = commit
        .or_else(|| var("USER").or_else(|| var("LOGNAME")))
        .map(|s| sanitize(&s))
        .filter(|s| s.len() >= MIN_LEN);
    SessionIdentity {
        session_name,
        source_identity,
    }
}

/// Kept to `[A-Za-z0-9.@_-]` (the alphabet both fields accept) and 64 characters: any other
/// character becomes `-`.
fn sanitize(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '@' | '_' | '-') {
                c
            } else {
                '-'
            }
        })
        .take(MAX_LEN)
        .collect()
}

/// Whether STS accepts `text` as a role session name or (within the alphabet kept here) a
/// `SourceIdentity`: 2 to 64 characters of `[A-Za-z0-9.@_-]`.
pub(crate) fn is_valid_name(text: &str) -> bool {
    (MIN_LEN..=MAX_LEN).contains(&text.len())
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'@' | b'_' | b'-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_identity_table() {
        let sha = "0123456789ABCDEF0123456789abcdef01234567";
        let long_user = "u".repeat(80);
        type Case<'a> = (Vec<(&'a str, &'a str)>, &'a str, Option<&'a str>);
        let table: Vec<Case> = vec![
            (vec![], "pai-provision-5eed0001", None),
            (vec![("USER", "alice")], "pai-provision-5eed0001", Some("alice")),
            (vec![("LOGNAME", "bob")], "pai-provision-5eed0001", Some("bob")),
            (
                vec![
                    ("GITHUB_RUN_ID", "9876543210"),
                    ("GITHUB_RUN_ATTEMPT", "2"),
                    ("GITHUB_SHA", sha),
                    ("USER", "runner"),
                ],
                "pai-provision-9876543210-2",
                Some("0123456789ab"),
            ),
            (vec![("GITHUB_RUN_ID", "42")], "pai-provision-42", None),
            (
                vec![("CI_PIPELINE_ID", "1001"), ("CI_JOB_ID", "77"), ("CI_COMMIT_SHA", sha)],
                "pai-provision-1001-77",
                Some("0123456789ab"),
            ),
            (vec![("CI_JOB_ID", "77")], "pai-provision-77", None),
            // GitHub first when both are set; a value that is not a commit falls back to the user.
            (
                vec![
                    ("GITHUB_RUN_ID", "1"),
                    ("CI_PIPELINE_ID", "2"),
                    ("GITHUB_SHA", "main"),
                    ("USER", "ci"),
                ],
                "pai-provision-1",
                Some("ci"),
            ),
            // Outside the alphabet: replaced; too short: none.
            (vec![("GITHUB_RUN_ID", "a b/c")], "pai-provision-a-b-c", None),
            (
                vec![("USER", "CORP\\José")],
                "pai-provision-5eed0001",
                Some("CORP-Jos-"),
            ),
            (vec![("USER", "x")], "pai-provision-5eed0001", None),
            (
                vec![("USER", " "), ("LOGNAME", "carol")],
                "pai-provision-5eed0001",
                Some("carol"),
            ),
        ];
        for (vars, name, source) in table {
            let env = |key: &str| vars.iter().find(|(k, _)| *k == key).map(|(_, v)| (*v).to_owned());
            let got = session_identity_with(&env, "5eed0001");
            assert_eq!(
                (got.session_name.as_str(), got.source_identity.as_deref()),
                (name, source),
                "{vars:?}"
            );
            assert!(is_valid_name(&got.session_name), "{vars:?}");
        }
        let env = |key: &str| (key == "USER").then(|| long_user.clone());
        let long = session_identity_with(&env, "5eed0001");
        assert_eq!(long.source_identity.map(|s| s.len()), Some(64));
        let env = |key: &str| (key == "GITHUB_RUN_ID").then(|| "9".repeat(80));
        assert_eq!(session_identity_with(&env, "x").session_name.len(), 64);
    }

    #[test]
    fn random_run_ids_are_eight_hex_digits() {
        let none = |_: &str| None;
        let (a, b) = (session_identity(&none), session_identity(&none));
        for id in [&a, &b] {
            let run = id.session_name.strip_prefix(SESSION_PREFIX).unwrap_or_default();
            assert!(run.len() == 8 && run.bytes().all(|c| c.is_ascii_hexdigit()), "{id:?}");
        }
    }

    #[test]
    fn valid_names() {
        for (text, ok) in [
            ("ab", true),
            ("a", false),
            ("pai-provision-1.x@y_z", true),
            ("a b", false),
            ("a=b", false),
            (&"x".repeat(64), true),
            (&"x".repeat(65), false),
        ] {
            assert_eq!(is_valid_name(text), ok, "{text}");
        }
    }
}
