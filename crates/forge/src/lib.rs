//! The code host's side of a pipeline, after a plan: the plan as one comment per manifest or
//! fleet on the pull (or merge) request, updated in place on every push and cut to the
//! forge's limit, and drift as one issue per drift fingerprint, opened when new, updated while
//! it lasts, closed when it is gone. It reads saved plans (`pai_planner::Plan`,
//! `pai_fleet::plan::FleetPlan`) and talks to GitHub or GitLab over their REST APIs; the
//! commands `comment` and `drift` are its only users. `docs/forge.md` is the contract.
//!
//! Modules, the pure rules first:
//! - [`context`]: which forge, its API URL, the repository, the pull request and the token, as
//!   a pure function of the CI's variables and the flags ([`context::resolve`]). The
//!   [`context::Token`] never shows.
//! - [`identity`]: whose comments and issues are the run's own ([`Identity`]: on GitHub a login,
//!   `github-actions[bot]` or `--author`'s; on GitLab the token's user). Nobody else's are
//!   read, edited or closed, whatever marker they carry.
//! - [`comment`]: the plan comment's marker, the rule "create, or update the oldest of ours
//!   carrying the marker" ([`comment::decide`]) and the fitting of a long plan ([`comment::fit`]).
//! - [`drift`]: the drifts of a saved plan with their fingerprints ([`drift::PlanDocument`])
//!   and the rule from open issues and drifts to what to open, update and close
//!   ([`drift::reconcile`]).
//! - [`client`]: the HTTP client both forges share ([`Client`]): the token to the API URL only
//!   (no redirect followed), its pagination, each call within `--timeout` and retried as
//!   [`retry`] allows; its typed errors are [`error`]'s ([`ForgeError`]). [`github`] and
//!   [`gitlab`] hold each forge's paths and documents.
//! - [`publish`]: a listing, a rule, then the writes: [`publish::post_comment`] and
//!   [`publish::file_drift`]; a post whose outcome is unknown (a 5xx, a lost answer) is looked
//!   for before it is ever posted again.

pub mod client;
pub mod comment;
pub mod context;
pub mod drift;
pub mod error;
pub mod github;
pub mod gitlab;
pub mod identity;
pub mod publish;
pub mod retry;

pub use client::Client;
pub use context::{Forge, ForgeContext, Overrides, Token};
pub use error::ForgeError;
pub use identity::{Author, Identity};
pub use retry::Retry;
