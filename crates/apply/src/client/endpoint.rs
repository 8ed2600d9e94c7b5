//! Which URL serves a region: a per-region override, else an override template (which may contain
//! `{region}`), else the public `https://aiworkspace.{region}.aliyuncs.com`.

use std::collections::BTreeMap;

use pai_spec::{Endpoints, Provider, Region};
use reqwest::Url;

use super::ClientError;

pub use pai_spec::endpoint::PUBLIC_TEMPLATE;

/// Maps a region to its endpoint, as `[provider] endpoint` / `endpoints` and `--endpoint`
/// configure it: [`Endpoints`], the manifest's own rule, made into URLs the client can send to.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EndpointResolver {
    endpoints: Endpoints,
}

/// A resolved endpoint: the base URL and the `host` header value signed for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub base: Url,
    /// `host[:port]`, the port only when it is not the scheme's default (what the SDK sends).
    pub host: String,
}

impl EndpointResolver {
    /// The public endpoints only.
    pub fn public() -> Self {
        EndpointResolver::default()
    }

    /// `template` overrides every region (`{region}` is substituted); `per_region` wins over it.
    pub fn new(template: Option<String>, per_region: BTreeMap<Region, String>) -> Self {
        EndpointResolver {
            endpoints: Endpoints::new(template, per_region),
        }
    }

    /// The manifest's `[provider] endpoint` and `endpoints`.
    pub fn from_provider(provider: &Provider) -> Self {
        EndpointResolver {
            endpoints: Endpoints::from_provider(provider),
        }
    }

    /// Replace the template (`--endpoint` wins over the manifest), keeping per-region entries.
    pub fn with_template(self, template: Option<String>) -> Self {
        EndpointResolver {
            endpoints: self.endpoints.with_template(template),
        }
    }

    /// The configured URL text for a region, before validation.
    pub fn url_for(&self, region: &Region) -> String {
        self.endpoints.url_for(region)
    }

    pub fn resolve(&self, region: &Region) -> Result<Endpoint, ClientError> {
        parse_endpoint(&self.url_for(region))
    }

    /// Check every configured URL once, so a typo fails when the client is built, not mid-apply.
    pub(crate) fn validate(&self) -> Result<(), ClientError> {
        if let Some(template) = self.endpoints.template() {
            parse_endpoint(&template.replace("{region}", "cn-hangzhou"))?;
        }
        for url in self.endpoints.per_region().values() {
            parse_endpoint(url)?;
        }
        Ok(())
    }
}

/// `https://host[:port][/]` or a bare `host[:port]` (HTTPS, as the SDK's `endpoint` setting).
pub fn parse_endpoint(raw: &str) -> Result<Endpoint, ClientError> {
    let invalid = |reason: &str| ClientError::InvalidEndpoint {
        endpoint: redact_userinfo(raw),
        reason: reason.to_owned(),
    };
    // The manifest's rule first, so that `validate` and the client agree on every text.
    pai_spec::check_endpoint(raw).map_err(|e| invalid(&e.message))?;
    let trimmed = raw.trim();
    let with_scheme = if trimmed.contains("://") {
        trimmed.to_owned()
    } else {
        format!("https://{trimmed}")
    };
    let url = Url::parse(&with_scheme).map_err(|e| invalid(&e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid("the scheme must be http or https"));
    }
    let Some(host) = url.host_str() else {
        return Err(invalid("no host"));
    };
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid("credentials in the URL are not supported"));
    }
    // The API's paths are absolute and signed as such; a prefix would change what is signed.
    if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
        return Err(invalid(
            "an endpoint is a scheme, host and port, without a path or query",
        ));
    }
    if host.contains('{') || host.contains('}') {
        return Err(invalid("unknown placeholder; only {region} is substituted"));
    }
    let host = match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_owned(),
    };
    Ok(Endpoint { base: url, host })
}

/// `http://user:password@host` shown as `http://***@host`.
fn redact_userinfo(raw: &str) -> String {
    let start = raw.find("://").map_or(0, |i| i + 3);
    let authority_end = raw[start..].find(['/', '?', '#']).map_or(raw.len(), |i| start + i);
    match raw[start..authority_end].rfind('@') {
        Some(at) => format!("{}***{}", &raw[..start], &raw[start + at..]),
        None => raw.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn region(s: &str) -> Region {
        Region::parse(s).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn precedence() {
        let per_region = BTreeMap::from([(region("cn-shanghai"), "http://127.0.0.1:8081".to_owned())]);
        let resolver = EndpointResolver::new(Some("http://127.0.0.1:9000".into()), per_region.clone());
        assert_eq!(resolver.url_for(&region("cn-shanghai")), "http://127.0.0.1:8081");
        assert_eq!(resolver.url_for(&region("cn-hangzhou")), "http://127.0.0.1:9000");
        let templated = EndpointResolver::new(Some("https://{region}.example.com".into()), BTreeMap::new());
        assert_eq!(
            templated.url_for(&region("cn-beijing")),
            "https://cn-beijing.example.com"
        );
        assert_eq!(
            EndpointResolver::public().url_for(&region("ap-southeast-1")),
            "https://aiworkspace.ap-southeast-1.aliyuncs.com"
        );
        let overridden = EndpointResolver::new(None, per_region).with_template(Some("http://x:1".into()));
        assert_eq!(overridden.url_for(&region("cn-beijing")), "http://x:1");
    }

    #[test]
    fn parsing() {
        let ok = [
            (
                "https://aiworkspace.cn-hangzhou.aliyuncs.com",
                "aiworkspace.cn-hangzhou.aliyuncs.com",
            ),
            (
                "aiworkspace.cn-hangzhou.aliyuncs.com",
                "aiworkspace.cn-hangzhou.aliyuncs.com",
            ),
            ("https://h.example:443/", "h.example"),
            ("http://127.0.0.1:8081", "127.0.0.1:8081"),
            ("http://[::1]:8081/", "[::1]:8081"),
        ];
        for (raw, host) in ok {
            let endpoint = parse_endpoint(raw).unwrap_or_else(|e| panic!("{raw}: {e}"));
            assert_eq!(endpoint.host, host, "{raw}");
        }
        for bad in [
            "ftp://h",
            "http://h/prefix",
            "http://h/?a=b",
            "http://u:p@h",
            "http://{regoin}.x",
            "http://",
        ] {
            assert!(parse_endpoint(bad).is_err(), "{bad}");
        }
        let leaked = parse_endpoint("http://user:hunter2@h")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            leaked.contains("http://***@h") && !leaked.contains("hunter2"),
            "{leaked}"
        );
        let bad_template = EndpointResolver::new(Some("http://h/{region}".into()), BTreeMap::new());
        assert!(bad_template.validate().is_err());
    }
}
