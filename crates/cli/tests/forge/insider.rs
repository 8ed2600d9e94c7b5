//! What an insider could make the bot do, refused: a marker line pasted in their own comment or
//! issue (only the token's identity's count), and a redirect that would carry the token to
//! another host (none is followed).

use pai_testkit::forge::FakeForge;

use super::support::runtime;
use super::{markdown_dir, run, Ci, DIGEST, TOKEN};

/// A 302 from the API to another host: not followed, whatever the header the token is in;
/// the other host receives nothing, and the error names the status and the host.
#[test]
fn a_redirect_to_another_host_is_refused_and_the_token_goes_nowhere() {
    let runtime = runtime();
    let dir = markdown_dir(DIGEST);
    for ci in [Ci::GitHub, Ci::GitLab] {
        let fake = FakeForge::start(runtime.handle(), TOKEN);
        let elsewhere = FakeForge::start(runtime.handle(), TOKEN);
        fake.redirect_to(&match ci {
            Ci::GitHub => elsewhere.github_url(),
            Ci::GitLab => elsewhere.gitlab_url(),
        });
        let refused = run(dir.path(), &ci.env(&fake), &["comment", "plan.md", "--key", "prod"]);
        assert_eq!(refused.code, Some(1), "{ci:?}: {}", refused.describe());
        assert!(
            refused.stderr.contains("HTTP 302")
                && refused.stderr.contains(&elsewhere.host())
                && refused.stderr.contains("not sent"),
            "{ci:?}: {}",
            refused.describe()
        );
        let there = elsewhere.store();
        assert!(
            there.calls.is_empty() && there.credentials_seen == 0,
            "{ci:?}: {:?}",
            there.calls
        );
        assert_eq!(fake.store().calls.len(), 1, "{ci:?}: no retry of a redirect");
    }
}
