//! The input document a policy reads (`docs/policy.md`, "Input"): versioned, so that a policy
//! can check `input.input_version` and a change of meaning is never silent.

use pai_planner::Plan;
use serde::Serialize;

/// The input document's version: it changes when a field is removed, renamed or changes meaning.
pub const INPUT_VERSION: u32 = 1;

/// `{"input_version", "plan", "context"}`.
#[derive(Debug, Clone, Serialize)]
pub struct PolicyInput {
    pub input_version: u32,
    /// The plan's JSON document (`docs/plan-json.md`), without a verdict.
    pub plan: serde_json::Value,
    pub context: PolicyContext,
}

/// Who the plan is for and which CI run made it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PolicyContext {
    /// The fleet account the plan is for; `null` for a single manifest's plan.
    pub account: Option<AccountContext>,
    /// The CI run, when the plan runs in one.
    pub ci: Option<CiContext>,
}

/// A fleet account as the fleet file resolved it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AccountContext {
    pub id: String,
    pub name: String,
    pub tags: Vec<String>,
}

/// The CI run, from the CI's standard environment variables.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CiContext {
    /// `github` or `gitlab`.
    pub system: String,
    /// `owner/name` (GitHub), the project's path (GitLab).
    pub repository: Option<String>,
    /// The pull request's number (GitHub) or merge request's IID (GitLab), as text; `null`
    /// outside one.
    pub pull_request: Option<String>,
    pub commit: Option<String>,
    /// Who started the run.
    pub actor: Option<String>,
    pub run_url: Option<String>,
}

impl PolicyInput {
    pub fn new(plan: &Plan, context: &PolicyContext) -> PolicyInput {
        let mut plan = plan.clone();
        plan.policy = None;
        // The plan's document (`render::json`) without printing and parsing it: its fields, then
        // what it would do and its digest. A plan always serialises; `Null` would only make every rule see an empty
        // plan, which the tests of the starter policies would catch.
        let mut document = serde_json::to_value(&plan).unwrap_or(serde_json::Value::Null);
        if let Some(fields) = document.as_object_mut() {
            fields.insert("would".into(), serde_json::json!(plan.summary.would()));
            fields.insert("digest".into(), serde_json::Value::String(plan.digest()));
        }
        PolicyInput {
            input_version: INPUT_VERSION,
            plan: document,
            context: context.clone(),
        }
    }

    /// The document as the engine reads it, built from `plan` directly in the engine's value
    /// type ([`crate::engine_value`]): neither the `serde_json` tree [`PolicyInput::new`] makes
    /// nor a JSON text in between, which were most of what judging a plan cost
    /// (`docs/benchmarks.md`, "policy"). The same document as `PolicyInput::new(plan,
    /// context).to_value()`; a test holds them equal.
    ///
    /// `digest` is that of the plan without its verdict, when the caller has it already:
    /// serialising and hashing the plan again is a good part of judging one.
    pub(crate) fn engine_value(
        plan: &Plan,
        context: &PolicyContext,
        digest: Option<&str>,
    ) -> Result<regorus::Value, crate::engine_value::Error> {
        let plan = without_verdict(plan);
        let plan = plan.as_ref();
        let mut document = crate::engine_value::to_value(plan)?;
        let would = crate::engine_value::to_value(&plan.summary.would())?;
        if let Ok(fields) = document.as_object_mut() {
            fields.insert("would".into(), would);
            // `plan` is without its verdict here, as the given digest is.
            let digest = digest.map_or_else(|| plan.digest(), str::to_owned);
            fields.insert("digest".into(), digest.into());
        }
        #[derive(Serialize)]
        struct Input<'a> {
            input_version: u32,
            context: &'a PolicyContext,
        }
        let mut input = crate::engine_value::to_value(&Input {
            input_version: INPUT_VERSION,
            context,
        })?;
        if let Ok(fields) = input.as_object_mut() {
            fields.insert("plan".into(), document);
        }
        Ok(input)
    }

    /// The document as JSON text, appended to `out` straight from `plan` (no `serde_json` tree
    /// in between): what the evaluating process reads ([`crate::Evaluator`]). The same
    /// document as [`PolicyInput::engine_value`]; a test holds them equal.
    pub(crate) fn write_json(
        out: &mut Vec<u8>,
        plan: &Plan,
        context: &PolicyContext,
        digest: Option<&str>,
    ) -> serde_json::Result<()> {
        #[derive(Serialize)]
        struct Document<'a, W: Serialize> {
            input_version: u32,
            plan: PlanDocument<'a, W>,
            context: &'a PolicyContext,
        }
        #[derive(Serialize)]
        struct PlanDocument<'a, W: Serialize> {
            #[serde(flatten)]
            plan: &'a Plan,
            would: W,
            digest: &'a str,
        }
        let plan = without_verdict(plan);
        let plan = plan.as_ref();
        // `plan` is without its verdict here, as the given digest is.
        let computed;
        let digest = match digest {
            Some(digest) => digest,
            None => {
                computed = plan.digest();
                &computed
            }
        };
        let document = Document {
            input_version: INPUT_VERSION,
            plan: PlanDocument {
                plan,
                would: plan.summary.would(),
                digest,
            },
            context,
        };
        serde_json::to_writer(out, &document)
    }

    pub fn to_value(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }

    /// The document as `plan --policy-input FILE` writes it, for `conftest test`.
    pub fn to_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).unwrap_or_default();
        s.push('\n');
        s
    }
}

impl CiContext {
    /// The CI run described by the environment `var` reads (`std::env::var` in the binary):
    /// GitHub Actions (`GITHUB_ACTIONS=true`) or GitLab CI (`GITLAB_CI=true`), else `None`.
    pub fn from_env(var: &dyn Fn(&str) -> Option<String>) -> Option<CiContext> {
        let get = |name: &str| var(name).filter(|v| !v.is_empty());
        if get("GITHUB_ACTIONS").as_deref() == Some("true") {
            let repository = get("GITHUB_REPOSITORY");
            // `refs/pull/<number>/merge` on `pull_request` events; nothing else names one.
            let pull_request = get("GITHUB_REF").and_then(|r| {
                let n = r.strip_prefix("refs/pull/")?.split('/').next()?.to_owned();
                (!n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())).then_some(n)
            });
            let run_url = match (get("GITHUB_SERVER_URL"), &repository, get("GITHUB_RUN_ID")) {
                (Some(server), Some(repo), Some(id)) => Some(format!("{server}/{repo}/actions/runs/{id}")),
                _ => None,
            };
            return Some(CiContext {
                system: "github".into(),
                repository,
                pull_request,
                commit: get("GITHUB_SHA"),
                actor: get("GITHUB_ACTOR"),
                run_url,
            });
        }
        if get("GITLAB_CI").as_deref() == Some("true") {
            return Some(CiContext {
                system: "gitlab".into(),
                repository: get("CI_PROJECT_PATH"),
                pull_request: get("CI_MERGE_REQUEST_IID"),
                commit: get("CI_COMMIT_SHA"),
                actor: get("GITLAB_USER_LOGIN"),
                run_url: get("CI_PIPELINE_URL"),
            });
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::CiContext;

    /// The environment of a case, and the context's fields it gives (`system` first), if any.
    type Case<'a> = (&'a [(&'a str, &'a str)], Option<[Option<&'a str>; 6]>);

    fn ci(vars: &[(&str, &str)]) -> Option<CiContext> {
        CiContext::from_env(&|name| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| (*v).to_owned()))
    }

    #[test]
    fn ci_context_from_the_standard_variables() {
        let github_pr = [
            ("GITHUB_ACTIONS", "true"),
            ("GITHUB_REPOSITORY", "acme/infra"),
            ("GITHUB_REF", "refs/pull/42/merge"),
            ("GITHUB_SHA", "0123456789abcdef"),
            ("GITHUB_ACTOR", "alice"),
            ("GITHUB_SERVER_URL", "https://github.com"),
            ("GITHUB_RUN_ID", "991"),
        ];
        let github_push = [
            ("GITHUB_ACTIONS", "true"),
            ("GITHUB_REPOSITORY", "acme/infra"),
            ("GITHUB_REF", "refs/heads/main"),
            ("GITHUB_SHA", "fedcba"),
        ];
        let gitlab_mr = [
            ("GITLAB_CI", "true"),
            ("CI_PROJECT_PATH", "acme/infra"),
            ("CI_MERGE_REQUEST_IID", "7"),
            ("CI_COMMIT_SHA", "abc"),
            ("GITLAB_USER_LOGIN", "bob"),
            ("CI_PIPELINE_URL", "https://gitlab.example/acme/infra/-/pipelines/5"),
        ];
        let cases: &[Case] = &[
            (&[], None),
            (&[("GITHUB_ACTIONS", "false"), ("GITHUB_SHA", "x")], None),
            (&[("CI", "true")], None),
            (
                &github_pr,
                Some([
                    Some("github"),
                    Some("acme/infra"),
                    Some("42"),
                    Some("0123456789abcdef"),
                    Some("alice"),
                    Some("https://github.com/acme/infra/actions/runs/991"),
                ]),
            ),
            (
                &github_push,
                Some([Some("github"), Some("acme/infra"), None, Some("fedcba"), None, None]),
            ),
            (
                &[
                    ("GITHUB_ACTIONS", "true"),
                    ("GITHUB_REF", "refs/pull/x/merge"),
                    ("GITHUB_ACTOR", ""),
                ],
                Some([Some("github"), None, None, None, None, None]),
            ),
            (
                &gitlab_mr,
                Some([
                    Some("gitlab"),
                    Some("acme/infra"),
                    Some("7"),
                    Some("abc"),
                    Some("bob"),
                    Some("https://gitlab.example/acme/infra/-/pipelines/5"),
                ]),
            ),
            (
                &[("GITLAB_CI", "true")],
                Some([Some("gitlab"), None, None, None, None, None]),
            ),
        ];
        for (vars, want) in cases {
            let got = ci(vars).map(|c| {
                [
                    Some(c.system),
                    c.repository,
                    c.pull_request,
                    c.commit,
                    c.actor,
                    c.run_url,
                ]
            });
            let want = want.map(|w| w.map(|v| v.map(str::to_owned)));
            assert_eq!(got, want, "{vars:?}");
        }
    }
}

#[cfg(test)]
mod document {
    /// The input's plan is the plan's own JSON document, digest included.
    #[test]
    fn the_input_plan_is_the_printed_document() {
        let text = "[provider]\nregion = \"cn-hangzhou\"\n[products.pai]\ncode = \"PAI_share\"\n";
        let m = pai_spec_manifest(text);
        let at = time::OffsetDateTime::from_unix_timestamp(1_795_685_400).expect("time");
        let plan = pai_planner::Plan::build(&m, "m.toml", &Default::default(), None, &|r| m.endpoint_for(r), at);
        let printed: serde_json::Value =
            serde_json::from_str(&pai_planner::render::json(&plan)).expect("the printed plan is JSON");
        let input = super::PolicyInput::new(&plan, &super::PolicyContext::default());
        assert_eq!(input.plan, printed);
    }

    /// What the engine evaluates is that same document, whatever the context and whether the
    /// plan already carries a verdict.
    #[test]
    fn the_engine_reads_the_same_document() {
        let text = "[provider]\nregion = \"cn-hangzhou\"\nauto_pay = false\n[products.pai]\ncode = \"PAI_share\"\n\
                    [products.dataworks]\ncode = \"DataWorks_share\"\npricing_cycle = \"Month\"\nproperties.region = \"cn-shanghai\"\n\
                    [products.maxcompute]\ncode = \"MaxCompute_share\"\npricing_cycle = \"Hour\"\nproperties.odps_specification_type = \"OdpsStandard\"\nproperties.ord_time = \"1:Hour\"\nproperties.region = \"cn-hangzhou\"\n";
        let m = pai_spec_manifest(text);
        let at = time::OffsetDateTime::from_unix_timestamp(1_795_685_400).expect("time");
        let mut plan = pai_planner::Plan::build(&m, "m.toml", &Default::default(), None, &|r| m.endpoint_for(r), at);
        let contexts = [
            super::PolicyContext::default(),
            super::PolicyContext {
                account: Some(super::AccountContext {
                    id: "1234567890123456".into(),
                    name: "research".into(),
                    tags: vec!["ml".into(), "sandbox".into()],
                }),
                ci: Some(super::CiContext {
                    system: "github".into(),
                    repository: Some("acme/infra".into()),
                    pull_request: None,
                    commit: Some("0123".into()),
                    actor: Some("alice".into()),
                    run_url: None,
                }),
            },
        ];
        for round in 0..2 {
            if round == 1 {
                plan.policy = Some(pai_planner::PolicyVerdict {
                    policies_digest: "sha256:00".into(),
                    deny: vec![],
                    warn: vec![],
                });
            }
            for context in &contexts {
                let document = super::PolicyInput::new(&plan, context).to_value();
                let printed = serde_json::to_string(&document).expect("JSON");
                let want = regorus::Value::from_json_str(&printed).expect("the engine reads it");
                let got = super::PolicyInput::engine_value(&plan, context, None).expect("converted");
                assert_eq!(got, want, "{printed}");
                // A digest given by the caller, of the plan without its verdict, changes nothing.
                let mut bare = plan.clone();
                bare.policy = None;
                let digest = bare.digest();
                let given = super::PolicyInput::engine_value(&plan, context, Some(&digest)).expect("converted");
                assert_eq!(given, want, "{printed}");
                // And the text the evaluating process reads, with and without the digest.
                for digest in [None, Some(digest.as_str())] {
                    let mut text = Vec::new();
                    super::PolicyInput::write_json(&mut text, &plan, context, digest).expect("written");
                    let text = String::from_utf8(text).expect("UTF-8");
                    assert_eq!(regorus::Value::from_json_str(&text).expect("read"), want, "{text}");
                }
            }
        }
    }

    fn pai_spec_manifest(text: &str) -> pai_spec::Manifest {
        pai_spec::parse(text.as_bytes(), "m.toml").expect("manifest").manifest
    }
}

/// The plan as the policies see it: without a verdict it may already carry (a saved plan's), so
/// that judging a plan again sees what was judged the first time. Cloned only when there is one.
fn without_verdict(plan: &Plan) -> std::borrow::Cow<'_, Plan> {
    if plan.policy.is_none() {
        return std::borrow::Cow::Borrowed(plan);
    }
    let mut plan = plan.clone();
    plan.policy = None;
    std::borrow::Cow::Owned(plan)
}
