//! Who chooses where signed requests go. In a pipeline's plan job the manifest comes from the
//! pull request: were its `[provider] endpoint` or `endpoints` free to name any host, a pull
//! request could send the pipeline's access key id and STS security token there. So in CI a
//! manifest may name only Alibaba Cloud's hosts (`*.aliyuncs.com`) and those the pipeline's
//! owner lists in [`ALLOW_VARIABLE`]. What the pipeline itself sets (`--endpoint`, its fleet
//! file) is not the manifest's choice and is not checked here.

use std::collections::BTreeSet;

use crate::model::Provider;

/// The variable in which a pipeline's owner lists the `host:port`s a manifest may send to in CI.
pub const ALLOW_VARIABLE: &str = "PAI_PROVISION_ALLOW_ENDPOINTS";

/// Where a manifest's endpoints may send to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum ManifestEndpoints {
    /// Outside CI: wherever the endpoint rule ([`crate::check_endpoint`]) accepts.
    #[default]
    Anywhere,
    /// In CI: Alibaba Cloud's hosts, and these `host:port`s.
    AlibabaCloudOr(BTreeSet<Destination>),
}

/// A host (lower case, `{region}` kept as written) and the port a request goes to.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Destination {
    host: String,
    port: u16,
}

impl std::fmt::Display for Destination {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.host, self.port)
    }
}

/// A manifest endpoint refused in CI.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`[provider] {field}` would send signed requests (with the access key id, and the STS security token \
     when there is one) to {destination}, which is not an Alibaba Cloud endpoint (*.aliyuncs.com); in CI \
     (the CI variable is set) a manifest does not choose where they go. If the pipeline's owner trusts that host, they list \
     it in {ALLOW_VARIABLE} (comma-separated host:port){flag}"
)]
pub struct RefusedEndpoint {
    /// `endpoint` or `endpoints.<region>`.
    pub field: String,
    /// `host:port`, or a description when the text names no readable host.
    pub destination: String,
    flag: &'static str,
}

/// Whether `CI` says this is a pipeline: set to anything but empty, `false` or `0`. CI systems
/// set `true`, a few their own name; only an explicit no turns the rule off.
pub fn is_ci(value: Option<&str>) -> bool {
    value
        .map(str::trim)
        .is_some_and(|v| !v.is_empty() && !v.eq_ignore_ascii_case("false") && v != "0")
}

impl ManifestEndpoints {
    /// From the values of `CI` and [`ALLOW_VARIABLE`]; the list is ignored outside CI.
    pub fn from_env(ci: Option<&str>, allowed: Option<&str>) -> ManifestEndpoints {
        if !is_ci(ci) {
            return ManifestEndpoints::Anywhere;
        }
        let allowed = allowed
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
            .filter_map(destination)
            .collect();
        ManifestEndpoints::AlibabaCloudOr(allowed)
    }

    /// Refuses the first of `provider`'s endpoints that sends where this does not allow. The
    /// template is not checked when `--endpoint` (`endpoint_flag`) replaces it; the per-region
    /// entries always are, since they win over the flag. Every per-region entry is checked, not
    /// only those of the regions ordered in: the state's resources are asked about too.
    pub fn check(&self, provider: &Provider, endpoint_flag: Option<&str>) -> Result<(), RefusedEndpoint> {
        let ManifestEndpoints::AlibabaCloudOr(allowed) = self else {
            return Ok(());
        };
        let flag_given = endpoint_flag.is_some_and(|f| !f.is_empty());
        let template = provider
            .endpoint
            .as_deref()
            .filter(|t| !t.is_empty() && !flag_given)
            .map(|t| ("endpoint".to_owned(), t, ", or give the endpoint with --endpoint"));
        let per_region = provider
            .endpoints
            .iter()
            .map(|(region, url)| (format!("endpoints.{region}"), url.as_str(), ""));
        for (field, url, flag) in template.into_iter().chain(per_region) {
            let refused = |destination: String| RefusedEndpoint {
                field: field.clone(),
                destination,
                flag,
            };
            match destination(url) {
                Some(d) if is_alibaba_cloud(&d.host) || allowed.contains(&d) => {}
                Some(d) => return Err(refused(d.to_string())),
                None => return Err(refused("a host that cannot be read".to_owned())),
            }
        }
        Ok(())
    }
}

/// Whether `host` is a name under `aliyuncs.com` (not `aliyuncs.com` itself, which serves no API).
fn is_alibaba_cloud(host: &str) -> bool {
    host.strip_suffix(".aliyuncs.com")
        .is_some_and(|sub| !sub.is_empty() && !sub.starts_with('.') && !sub.ends_with('.'))
}

/// Where `url` sends, read as a URL parser reads it: the authority ends at the first `/`, `\`,
/// `?` or `#`, and the host follows the last `@`. `None` for a text whose host is anything but
/// ASCII letters, digits, `-` and `.` (or a bracketed IPv6 address), `{region}` aside: then a
/// parser could read another host than this function, and nothing it could read is allowed.
fn destination(url: &str) -> Option<Destination> {
    let url = url.trim();
    let (default_port, rest) = match url.split_once("://") {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("https") => (443, rest),
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("http") => (80, rest),
        Some(_) => return None,
        None => (443, url),
    };
    let authority = rest.split(['/', '\\', '?', '#']).next().unwrap_or_default();
    let authority = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
    let (host, port) = match authority.strip_prefix('[') {
        Some(bracketed) => {
            let (inside, after) = bracketed.split_once(']')?;
            let port = if after.is_empty() {
                None
            } else {
                Some(after.strip_prefix(':')?)
            };
            if inside.is_empty() || !inside.chars().all(|c| c.is_ascii_hexdigit() || c == ':' || c == '.') {
                return None;
            }
            (format!("[{inside}]"), port)
        }
        None => {
            let (host, port) = match authority.split_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (authority, None),
            };
            let host = host.strip_suffix('.').unwrap_or(host);
            let plain = host.replace("{region}", "cn-hangzhou");
            if plain.is_empty() || !plain.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.') {
                return None;
            }
            (host.to_owned(), port)
        }
    };
    let port = match port {
        None => default_port,
        Some(p) => p.parse::<u16>().ok().filter(|p| *p != 0)?,
    };
    Some(Destination {
        host: host.to_ascii_lowercase(),
        port,
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::model::{Region, SignatureVersion};

    fn provider(endpoint: Option<&str>, endpoints: &[(&str, &str)]) -> Provider {
        Provider {
            region: region("cn-hangzhou"),
            auto_pay: true,
            signature: SignatureVersion::V3,
            profile: None,
            endpoint: endpoint.map(str::to_owned),
            endpoints: endpoints
                .iter()
                .map(|(r, url)| (region(r), (*url).to_owned()))
                .collect::<BTreeMap<_, _>>(),
        }
    }

    fn region(s: &str) -> Region {
        Region::parse(s).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn ci_table() {
        let cases = [
            (None, false),
            (Some(""), false),
            (Some("false"), false),
            (Some("FALSE"), false),
            (Some("0"), false),
            (Some("true"), true),
            (Some("True"), true),
            (Some("1"), true),
            (Some("woodpecker"), true),
        ];
        for (value, want) in cases {
            assert_eq!(is_ci(value), want, "{value:?}");
        }
    }

    #[test]
    fn destination_table() {
        let cases = [
            (
                "https://aiworkspace.cn-hangzhou.aliyuncs.com",
                Some("aiworkspace.cn-hangzhou.aliyuncs.com:443"),
            ),
            (
                "aiworkspace.{region}.aliyuncs.com",
                Some("aiworkspace.{region}.aliyuncs.com:443"),
            ),
            ("HTTP://Evil.Example:8080/", Some("evil.example:8080")),
            ("http://127.0.0.1", Some("127.0.0.1:80")),
            ("http://[::1]:9000", Some("[::1]:9000")),
            ("https://x.aliyuncs.com.", Some("x.aliyuncs.com:443")),
            // Read as a URL parser would: the host is the one after the last `@`, before any path.
            ("https://evil.com/aliyuncs.com", Some("evil.com:443")),
            ("https://evil.com\\x.aliyuncs.com", Some("evil.com:443")),
            ("https://x.aliyuncs.com@evil.com", Some("evil.com:443")),
            ("https://a@b.aliyuncs.com@evil.com:8443", Some("evil.com:8443")),
            ("https://evil.com?.aliyuncs.com", Some("evil.com:443")),
            ("https://evil.com#.aliyuncs.com", Some("evil.com:443")),
            ("https://evil.com%2ex.aliyuncs.com", None),
            ("https://evil。x.aliyuncs.com", None),
            ("https://x.aliyuncs.com:0", None),
            ("https://x.aliyuncs.com:", None),
            ("ftp://x.aliyuncs.com", None),
            ("https://", None),
            ("https://[zz]", None),
        ];
        for (url, want) in cases {
            assert_eq!(destination(url).map(|d| d.to_string()).as_deref(), want, "{url}");
        }
    }

    #[test]
    fn alibaba_cloud_table() {
        let cases = [
            ("aiworkspace.cn-hangzhou.aliyuncs.com", true),
            ("aiworkspace.{region}.aliyuncs.com", true),
            ("sts.aliyuncs.com", true),
            ("aliyuncs.com", false),
            (".aliyuncs.com", false),
            ("aliyuncs.com.evil.com", false),
            ("evil-aliyuncs.com", false),
            ("x.aliyuncs.co", false),
            ("x.aliyuncs.com.cn", false),
        ];
        for (host, want) in cases {
            assert_eq!(is_alibaba_cloud(host), want, "{host}");
        }
    }

    #[test]
    fn check_table() {
        let ci = |allowed: Option<&str>| ManifestEndpoints::from_env(Some("true"), allowed);
        let evil = provider(Some("http://127.0.0.1:8080"), &[]);
        let per_region = provider(None, &[("cn-shanghai", "https://evil.example")]);
        let alibaba = provider(
            Some("https://aiworkspace.{region}.aliyuncs.com"),
            &[("cn-shanghai", "aiworkspace-vpc.cn-shanghai.ALIYUNCS.com")],
        );
        let tricks = [
            "https://aliyuncs.com.evil.com",
            "https://evil.com/aliyuncs.com",
            "https://x.aliyuncs.com@evil.com",
            "https://{region}.evil.com",
        ];
        // (rule, provider, --endpoint, refused field)
        let cases: Vec<(ManifestEndpoints, Provider, Option<&str>, Option<&str>)> = vec![
            (ManifestEndpoints::Anywhere, evil.clone(), None, None),
            (
                ManifestEndpoints::from_env(Some("false"), None),
                evil.clone(),
                None,
                None,
            ),
            (
                ManifestEndpoints::from_env(None, Some("127.0.0.1:8080")),
                evil.clone(),
                None,
                None,
            ),
            (ci(None), evil.clone(), None, Some("endpoint")),
            (ci(None), evil.clone(), Some(""), Some("endpoint")),
            // The flag replaces the template: the template is not used, so not refused.
            (ci(None), evil.clone(), Some("http://127.0.0.1:9"), None),
            (ci(Some("127.0.0.1:8080")), evil.clone(), None, None),
            (
                ci(Some(" 127.0.0.1:9 ,http://127.0.0.1:8080")),
                evil.clone(),
                None,
                None,
            ),
            (ci(Some("127.0.0.1:8081")), evil.clone(), None, Some("endpoint")),
            (ci(Some("127.0.0.1")), evil.clone(), None, Some("endpoint")),
            // A per-region entry wins over the flag, so the flag does not excuse it.
            (
                ci(None),
                per_region.clone(),
                Some("http://127.0.0.1:9"),
                Some("endpoints.cn-shanghai"),
            ),
            (ci(Some("evil.example:443")), per_region.clone(), None, None),
            (ci(None), alibaba, None, None),
            (ci(None), provider(None, &[]), None, None),
            (ci(None), provider(Some(""), &[]), None, None),
        ];
        for (rule, provider, flag, want) in cases {
            let got = rule.check(&provider, flag).err().map(|e| e.field);
            assert_eq!(got.as_deref(), want, "{rule:?} {provider:?} {flag:?}");
        }
        for trick in tricks {
            assert!(ci(None).check(&provider(Some(trick), &[]), None).is_err(), "{trick}");
        }
    }

    #[test]
    fn the_refusal_names_the_field_the_destination_and_the_variable() {
        let rule = ManifestEndpoints::from_env(Some("true"), None);
        let err = rule
            .check(
                &provider(None, &[("cn-beijing", "https://u:pw@evil.example:8443")]),
                None,
            )
            .unwrap_err()
            .to_string();
        for needed in [
            "`[provider] endpoints.cn-beijing`",
            "evil.example:8443",
            "in CI",
            ALLOW_VARIABLE,
        ] {
            assert!(err.contains(needed), "{needed}: {err}");
        }
        assert!(!err.contains("pw"), "{err}");
        let template = rule
            .check(&provider(Some("https://evil.example"), &[]), None)
            .unwrap_err()
            .to_string();
        assert!(template.contains("--endpoint"), "{template}");
    }
}
