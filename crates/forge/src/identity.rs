//! Whose comments and issues are the forge's own. Anyone who can comment on a pull request can
//! paste the plan comment's marker line, and anyone who can open an issue can label it and
//! mark it as a drift's: a marker proves nothing about who wrote it. So only what the token's
//! own identity wrote is read, edited or closed; what anybody else wrote is left alone
//! (`docs/forge.md`, "Whose comments are read").

/// The login the job's `GITHUB_TOKEN` writes as, on GitHub.com and GitHub Enterprise alike.
pub const GITHUB_ACTIONS: &str = "github-actions[bot]";

/// Who wrote a comment or an issue, as the forge lists it: GitHub's `user`, GitLab's `author`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Author {
    /// The user's id, when the forge says.
    pub id: Option<u64>,
    /// GitHub's `login`, GitLab's `username`.
    pub login: String,
}

/// Whom the token acts as: the one author whose comments and issues a run takes for its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Identity {
    /// On GitHub, a login: `github-actions[bot]` for the job's token, or what `--author` says
    /// (a GitHub App's `NAME[bot]`, a person's login). The job's token cannot ask GitHub who it
    /// is (`GET /user` refuses an installation token), hence the flag.
    Login(String),
    /// On GitLab, the token's user as `GET /user` answers: compared by id, since a username
    /// can be changed, and then taken by someone else.
    User { id: u64, username: String },
}

impl Identity {
    /// Whether `author` is this identity.
    pub fn wrote(&self, author: &Author) -> bool {
        match self {
            // GitHub's logins are unique without regard to case.
            Identity::Login(login) => author.login.eq_ignore_ascii_case(login),
            Identity::User { id, .. } => author.id == Some(*id),
        }
    }
}

impl std::fmt::Display for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Identity::Login(login) => write!(f, "{}", pai_spec::escape(login)),
            Identity::User { id, username } => write!(f, "{} (user {id})", pai_spec::escape(username)),
        }
    }
}

impl std::fmt::Display for Author {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let login = if self.login.is_empty() {
            "nobody known".into()
        } else {
            pai_spec::escape(&self.login)
        };
        match self.id {
            Some(id) => write!(f, "{login} (user {id})"),
            None => write!(f, "{login}"),
        }
    }
}

/// Whether `login` may be a GitHub login: letters, digits and `-` (a person's, up to 39), with
/// `[bot]` after it for an app's.
pub fn is_github_login(login: &str) -> bool {
    let name = login.strip_suffix("[bot]").unwrap_or(login);
    (1..=39).contains(&name.len())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        && !name.starts_with('-')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn by(id: Option<u64>, login: &str) -> Author {
        Author {
            id,
            login: login.to_owned(),
        }
    }

    #[test]
    fn only_the_token_s_identity_wrote_it() {
        let bot = Identity::Login(GITHUB_ACTIONS.to_owned());
        let gitlab = Identity::User {
            id: 9001,
            username: "project_42_bot".into(),
        };
        let table = [
            (&bot, by(Some(41_898_282), "github-actions[bot]"), true),
            (&bot, by(None, "GitHub-Actions[bot]"), true),
            (&bot, by(Some(41_898_282), "github-actions"), false),
            (&bot, by(Some(1), "octo-alice"), false),
            (&bot, by(None, ""), false),
            (&gitlab, by(Some(9001), "renamed_since"), true),
            // The bot's username, taken by another user once the bot's was changed.
            (&gitlab, by(Some(9002), "project_42_bot"), false),
            (&gitlab, by(None, "project_42_bot"), false),
        ];
        for (me, author, want) in table {
            assert_eq!(me.wrote(&author), want, "{me} and {author}");
        }
    }

    #[test]
    fn a_github_login_is_letters_digits_and_hyphens() {
        for good in ["github-actions[bot]", "acme-planner[bot]", "octo-alice", "a"] {
            assert!(is_github_login(good), "{good}");
        }
        for bad in ["", "[bot]", "-a", "a b", "a\nb", "a[bot][bot]", &"x".repeat(40)] {
            assert!(!is_github_login(bad), "{bad:?}");
        }
    }
}
