//! The arguments of `comment` and `drift`, the commands a pipeline runs after a plan to talk
//! to its code host (docs/forge.md).

use std::path::PathBuf;

use clap::Args;
use pai_forge::{Forge, Overrides};

use super::Format;

/// Where the forge is, when the CI's variables do not say or say otherwise.
#[derive(Debug, Args)]
pub struct ForgeFlags {
    /// The code host [default: github under GitHub Actions, gitlab under GitLab CI].
    #[arg(long, value_name = "github|gitlab")]
    pub forge: Option<Forge>,
    /// Its REST API's base URL [default: GITHUB_API_URL, else GitHub.com's; CI_API_V4_URL].
    #[arg(long, value_name = "URL")]
    pub api_url: Option<String>,
    /// The repository: OWNER/NAME on GitHub, the project id or path on GitLab
    /// [default: GITHUB_REPOSITORY; CI_PROJECT_ID].
    #[arg(long, value_name = "REPO")]
    pub repo: Option<String>,
    /// GitHub only: the login the token writes as, whose comments and issues are the ones read,
    /// edited and closed (a GitHub App's `NAME[bot]`, a person's login); anybody else's are
    /// ignored (default: `github-actions[bot]`; GitLab asks whom the token acts as).
    #[arg(long, value_name = "LOGIN")]
    pub author: Option<String>,
}

impl ForgeFlags {
    pub fn overrides(&self, pr: Option<u64>) -> Overrides {
        Overrides {
            forge: self.forge,
            api_url: self.api_url.clone(),
            repo: self.repo.clone(),
            pr,
            author: self.author.clone(),
        }
    }
}

#[derive(Debug, Args)]
pub struct CommentArgs {
    /// The Markdown to post (what `plan --format markdown` or `fleet plan --format markdown`
    /// printed), or `-` for stdin.
    pub file: PathBuf,
    /// Which plan comment this is, one per key on the pull request: a manifest's or a fleet's
    /// name (letters, digits and `._/@+-`).
    #[arg(long)]
    pub key: String,
    /// Where the full plan is, for the line that ends a plan cut to fit [default: the CI run's page].
    #[arg(long, value_name = "URL")]
    pub artifact_url: Option<String>,
    #[command(flatten)]
    pub forge: ForgeFlags,
    /// The pull request's number or merge request's IID [default: from the CI's variables].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub pr: Option<u64>,
    /// The most characters the comment may have, within the forge's limit [default: the forge's
    /// limit, 65536 on GitHub, 1000000 on GitLab].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(200..=1_000_000))]
    pub max_chars: Option<u64>,
    /// Print the comment and whether it would be created or updated; write nothing.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Args)]
pub struct DriftArgs {
    /// Plans saved with `plan --out` or `fleet plan --out`.
    #[arg(required = true, value_name = "PLANFILE")]
    pub planfiles: Vec<PathBuf>,
    /// Whose drift issues these are: a manifest's or a fleet's name. Issues of other keys are
    /// never touched.
    #[arg(long)]
    pub key: String,
    #[command(flatten)]
    pub forge: ForgeFlags,
    /// List the open issues and print what would be opened, updated and closed; write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// How to print the outcome (json: `{key, drifts, would_order, opened, updated, closed,
    /// not_planned, dry_run}`, docs/forge.md).
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}
