//! Which URL serves a region, and which URLs are endpoints at all: the one rule that
//! `validate` applies to `[provider] endpoint`/`endpoints` and that `plan` and `apply` apply to
//! them and to `--endpoint` before anything is sent.
//!
//! An endpoint is `https://host[:port]`, `http://host[:port]` or a bare `host[:port]`
//! (HTTPS), with an optional trailing `/`, where `{region}` may stand for the region id. No
//! path (the API's paths are absolute and signed as such), query, fragment or `user@`.
//!
//! In CI, which of those hosts a manifest may name is [`ManifestEndpoints`]' rule.
//!
//! Without an override, a region is served where the official SDK sends it: most regions by
//! `aiworkspace.{region}.aliyuncs.com`, some (`cn-qingdao`, `eu-west-1`, ...) by the central
//! `aiworkspace.aliyuncs.com` and `ap-southeast-5` by its VPC host (`sdk_map`).

mod ci;
mod sdk_map;

pub use ci::{is_ci, Destination, ManifestEndpoints, RefusedEndpoint, ALLOW_VARIABLE};
pub use sdk_map::{sdk_host, SDK_ENDPOINT_MAP};

use std::collections::BTreeMap;

use crate::model::{Provider, Region};

/// The public endpoint of a region outside the SDK's map ([`SDK_ENDPOINT_MAP`]).
pub const PUBLIC_TEMPLATE: &str = "https://aiworkspace.{region}.aliyuncs.com";

/// Maps a region to its endpoint URL: a per-region entry, else the template (`--endpoint`,
/// else `[provider] endpoint`, `{region}` substituted), else where the official SDK sends it
/// ([`sdk_host`]: [`PUBLIC_TEMPLATE`] for most regions).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Endpoints {
    template: Option<String>,
    per_region: BTreeMap<Region, String>,
}

impl Endpoints {
    /// `template` overrides every region; `per_region` wins over it.
    pub fn new(template: Option<String>, per_region: BTreeMap<Region, String>) -> Self {
        Endpoints {
            template: template.filter(|t| !t.is_empty()),
            per_region,
        }
    }

    /// The manifest's `[provider] endpoint` and `endpoints`.
    pub fn from_provider(provider: &Provider) -> Self {
        Endpoints::new(provider.endpoint.clone(), provider.endpoints.clone())
    }

    /// Replace the template (`--endpoint` wins over the manifest), keeping per-region entries.
    pub fn with_template(mut self, template: Option<String>) -> Self {
        if let Some(template) = template.filter(|t| !t.is_empty()) {
            self.template = Some(template);
        }
        self
    }

    /// The template, if one was given.
    pub fn template(&self) -> Option<&str> {
        self.template.as_deref()
    }

    /// The per-region entries.
    pub fn per_region(&self) -> &BTreeMap<Region, String> {
        &self.per_region
    }

    /// The configured URL text for a region, before validation.
    pub fn url_for(&self, region: &Region) -> String {
        if let Some(url) = self.per_region.get(region) {
            return url.clone();
        }
        match self.template.as_deref() {
            Some(template) => template.replace("{region}", region.as_str()),
            None => format!("https://{}", sdk_host(region.as_str())),
        }
    }
}

/// Why a text is not an endpoint, and what would be.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct EndpointError {
    pub message: String,
    pub hint: String,
}

/// An endpoint that passed [`check_endpoint`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckedEndpoint {
    /// Plain HTTP to a host other than the local machine: signatures travel unencrypted.
    pub insecure: bool,
}

/// The endpoint rule (see the module documentation), for a URL or a `{region}` template.
pub fn check_endpoint(url: &str) -> Result<CheckedEndpoint, EndpointError> {
    let err = |message: String, hint: &str| EndpointError {
        message,
        hint: hint.to_owned(),
    };
    let example = "for example `https://aiworkspace.{region}.aliyuncs.com` or `http://127.0.0.1:8080`";
    let placeholder = "the only placeholder is `{region}`";
    if let Some(c) = url.chars().find(|c| c.is_whitespace() || c.is_control()) {
        let what = match c {
            ' ' => "a space".to_owned(),
            c => format!("`{}`", crate::printable::escape(&c.to_string())),
        };
        return Err(err(format!("it contains {what}"), example));
    }
    let (scheme, rest) = match url.split_once("://") {
        Some((scheme @ ("https" | "http"), rest)) => (scheme, rest),
        Some(_) => return Err(err("it must start with `https://` or `http://`".into(), example)),
        None => ("https", url),
    };
    if url.contains(['?', '#']) {
        return Err(err(
            "it must not carry a query or fragment".into(),
            "give the base URL only; the client adds `/api/v1/...`",
        ));
    }
    let mut tail = url;
    while let Some(open) = tail.find('{') {
        let Some(close) = tail[open..].find('}').map(|i| open + i) else {
            return Err(err("it has an unclosed `{`".into(), placeholder));
        };
        let name = &tail[open..=close];
        if name != "{region}" {
            return Err(err(format!("unknown placeholder `{name}`"), placeholder));
        }
        tail = &tail[close + 1..];
    }
    if tail.contains('}') {
        return Err(err("it has a `}` without `{`".into(), placeholder));
    }
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    if !path.is_empty() {
        return Err(err(
            "an endpoint is a scheme, host and port, without a path".into(),
            "the API's paths are absolute and signed as such; give `http(s)://host[:port]` only",
        ));
    }
    if authority.contains('@') {
        return Err(err(
            "it must not carry user information".into(),
            "credentials never go in an endpoint; remove `user@`",
        ));
    }
    // Checked as it will be sent: with a region id in place of the placeholder.
    let authority = authority.replace("{region}", "cn-hangzhou");
    let (host, port) = if let Some(bracketed) = authority.strip_prefix('[') {
        let Some((host, after)) = bracketed.split_once(']') else {
            return Err(err("it has an unclosed `[`".into(), example));
        };
        if host.is_empty() || !host.chars().all(|c| c.is_ascii_hexdigit() || c == ':' || c == '.') {
            return Err(err(format!("`[{host}]` is not an IPv6 address"), example));
        }
        match after {
            "" => (host, None),
            _ => match after.strip_prefix(':') {
                Some(port) => (host, Some(port)),
                None => return Err(err("only a `:port` may follow `]`".into(), example)),
            },
        }
    } else {
        match authority.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority.as_str(), None),
        }
    };
    if host.is_empty() {
        return Err(err("it has no host".into(), example));
    }
    let dns = |h: &str| {
        h.split('.').all(|label| {
            !label.is_empty()
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
    };
    if !authority.starts_with('[') && !dns(host.strip_suffix('.').unwrap_or(host)) {
        return Err(err(
            format!("`{}` is not a host name", crate::printable::escape(host)),
            "a host is letters, digits and `-` in dot-separated labels, or an IP address",
        ));
    }
    if let Some(port) = port {
        if port.parse::<u16>().map_or(true, |p| p == 0) {
            return Err(err(
                format!("`{port}` is not a port"),
                "a port is a number from 1 to 65535",
            ));
        }
    }
    let local = host == "localhost" || host == "::1" || host.starts_with("127.");
    Ok(CheckedEndpoint {
        insecure: scheme == "http" && !local,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn region(s: &str) -> Region {
        Region::parse(s).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn accepted() {
        let ok = [
            ("https://aiworkspace.{region}.aliyuncs.com", false),
            ("aiworkspace.cn-hangzhou.aliyuncs.com", false),
            ("https://h.example:443/", false),
            ("http://127.0.0.1:8080", false),
            ("http://localhost:1/", false),
            ("http://[::1]:9000", false),
            ("http://{region}.test:8080", true),
            ("http://example.com", true),
        ];
        for (url, insecure) in ok {
            assert_eq!(check_endpoint(url), Ok(CheckedEndpoint { insecure }), "{url}");
        }
    }

    #[test]
    fn refused() {
        let bad = [
            ("ftp://x", "must start with"),
            ("https://", "no host"),
            ("https://:80", "no host"),
            ("https://x/{zone}", "unknown placeholder `{zone}`"),
            ("https://x/{region", "unclosed"),
            ("https://x/region}", "without `{`"),
            ("not a url", "contains a space"),
            ("https://a\u{1b}b", "contains `\\u{1b}`"),
            ("https://x?a=1", "query"),
            ("https://user:pw@x", "user information"),
            ("http://127.0.0.1:9/{region}", "without a path"),
            ("http://h/prefix", "without a path"),
            ("http://h:99999", "not a port"),
            ("http://h:", "not a port"),
            ("http://h_x.test", "not a host name"),
            ("http://[zz]:1", "not an IPv6"),
        ];
        for (url, want) in bad {
            match check_endpoint(url) {
                Err(e) => assert!(e.message.contains(want), "{url}: {}", e.message),
                Ok(_) => panic!("{url} accepted"),
            }
        }
    }

    #[test]
    fn precedence() {
        let per_region = BTreeMap::from([(region("cn-shanghai"), "http://127.0.0.1:8081".to_owned())]);
        let endpoints = Endpoints::new(Some("http://127.0.0.1:9000".into()), per_region.clone());
        assert_eq!(endpoints.url_for(&region("cn-shanghai")), "http://127.0.0.1:8081");
        assert_eq!(endpoints.url_for(&region("cn-hangzhou")), "http://127.0.0.1:9000");
        let templated = Endpoints::new(Some("https://{region}.example.com".into()), BTreeMap::new());
        assert_eq!(
            templated.url_for(&region("cn-beijing")),
            "https://cn-beijing.example.com"
        );
        assert_eq!(
            Endpoints::default().url_for(&region("ap-southeast-1")),
            "https://aiworkspace.ap-southeast-1.aliyuncs.com"
        );
        // Issue 22: where the official SDK sends them, not a host that does not resolve.
        assert_eq!(
            Endpoints::default().url_for(&region("cn-qingdao")),
            "https://aiworkspace.aliyuncs.com"
        );
        assert_eq!(
            Endpoints::default().url_for(&region("eu-west-1")),
            "https://aiworkspace.aliyuncs.com"
        );
        let overridden = Endpoints::new(None, per_region).with_template(Some("http://x:1".into()));
        assert_eq!(overridden.url_for(&region("cn-beijing")), "http://x:1");
    }
}
