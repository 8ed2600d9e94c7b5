//! The HTTP client underneath: timeouts, proxies from the environment, and the clock formats the
//! signatures need. Shared by the API client and the STS call of the OIDC role.

use std::net::IpAddr;
use std::time::Duration;

use reqwest::Url;
use time::OffsetDateTime;

/// Which proxy requests go through.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ProxyConfig {
    /// `HTTPS_PROXY` / `HTTP_PROXY` / `ALL_PROXY` (either case) with `NO_PROXY`, read through the
    /// injected environment lookup. Loopback hosts never go through a proxy, as in Go's
    /// `ProxyFromEnvironment`: a local emulator must be reachable behind a corporate proxy.
    #[default]
    FromEnvironment,
    /// Connect directly.
    Disabled,
    /// One proxy for every request.
    Url(String),
}

/// Why the HTTP client could not be built. Proxy values are never quoted: they may carry a password.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error("invalid proxy URL in {0}")]
    InvalidProxy(String),
    #[error("cannot build the HTTP client: {0}")]
    Build(String),
}

/// Proxies chosen from the environment, resolved once when the client is built.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct EnvProxies {
    http: Option<Url>,
    https: Option<Url>,
    no_proxy: Vec<String>,
}

impl EnvProxies {
    fn read(env: &dyn Fn(&str) -> Option<String>) -> Result<Self, TransportError> {
        let var = |names: [&'static str; 2]| {
            names
                .into_iter()
                .find_map(|name| env(name).filter(|v| !v.trim().is_empty()).map(|v| (name, v)))
        };
        let parse = |found: Option<(&'static str, String)>| -> Result<Option<Url>, TransportError> {
            match found {
                None => Ok(None),
                Some((name, value)) => {
                    let value = value.trim();
                    let with_scheme = if value.contains("://") {
                        value.to_owned()
                    } else {
                        format!("http://{value}")
                    };
                    Url::parse(&with_scheme)
                        .map(Some)
                        .map_err(|_| TransportError::InvalidProxy(name.to_owned()))
                }
            }
        };
        let all = var(["ALL_PROXY", "all_proxy"]);
        let http = var(["HTTP_PROXY", "http_proxy"]).or_else(|| all.clone());
        let https = var(["HTTPS_PROXY", "https_proxy"]).or(all);
        let no_proxy = var(["NO_PROXY", "no_proxy"])
            .map(|(_, v)| {
                v.split(',')
                    .map(|entry| entry.trim().to_ascii_lowercase())
                    .filter(|entry| !entry.is_empty())
                    .collect()
            })
            .unwrap_or_default();
        Ok(EnvProxies {
            http: parse(http)?,
            https: parse(https)?,
            no_proxy,
        })
    }

    fn select(&self, url: &Url) -> Option<Url> {
        let host = url
            .host_str()?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_ascii_lowercase();
        if is_loopback(&host) || bypassed(&self.no_proxy, &host) {
            return None;
        }
        match url.scheme() {
            "https" => self.https.clone(),
            "http" => self.http.clone(),
            _ => None,
        }
    }
}

fn is_loopback(host: &str) -> bool {
    host == "localhost" || host.ends_with(".localhost") || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// `NO_PROXY` as curl and Go read it: `*`, exact hosts, and domain suffixes with or without a leading dot.
fn bypassed(no_proxy: &[String], host: &str) -> bool {
    no_proxy.iter().any(|entry| {
        if entry == "*" {
            return true;
        }
        let entry = entry
            .rsplit_once(':')
            .filter(|(h, _)| !h.contains(':'))
            .map_or(entry.as_str(), |(h, _)| h);
        let domain = entry.trim_start_matches('.');
        host == domain || host.ends_with(&format!(".{domain}"))
    })
}

/// Build a reqwest client with a connect timeout, a total per-request timeout and the proxy policy.
pub(crate) fn http_client(
    connect_timeout: Duration,
    timeout: Duration,
    proxy: &ProxyConfig,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<reqwest::Client, TransportError> {
    // reqwest would read the proxy variables itself; it must not, so that the lookup stays injectable.
    let mut builder = reqwest::Client::builder()
        .connect_timeout(connect_timeout)
        .timeout(timeout)
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none());
    match proxy {
        ProxyConfig::Disabled => {}
        ProxyConfig::Url(url) => {
            let proxy = reqwest::Proxy::all(url.as_str())
                .map_err(|_| TransportError::InvalidProxy("the proxy setting".into()))?;
            builder = builder.proxy(proxy);
        }
        ProxyConfig::FromEnvironment => {
            let proxies = EnvProxies::read(env)?;
            if proxies.http.is_some() || proxies.https.is_some() {
                tracing::debug!(
                    http = proxies.http.is_some(),
                    https = proxies.https.is_some(),
                    no_proxy_entries = proxies.no_proxy.len(),
                    "using proxies from the environment"
                );
                builder = builder.proxy(reqwest::Proxy::custom(move |url| proxies.select(url)));
            }
        }
    }
    builder
        .build()
        .map_err(|e| TransportError::Build(e.without_url().to_string()))
}

/// `x-acs-date` and the STS `Timestamp`: ISO 8601 UTC to the second, `2026-11-26T08:36:51Z`.
pub(crate) fn iso8601(at: OffsetDateTime) -> String {
    let at = at.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second()
    )
}

/// The ROA `date` header: RFC 1123, `Thu, 26 Nov 2026 08:36:51 GMT`.
pub(crate) fn rfc1123(at: OffsetDateTime) -> String {
    httpdate::fmt_http_date(at.into())
}

/// `application/x-www-form-urlencoded` as Python's `urlencode` writes it (`quote_plus`): the SDK
/// puts queries on the wire this way; the signatures see the raw values.
pub(crate) fn form_urlencode(pairs: &[(String, String)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", quote_plus(k), quote_plus(v)))
        .collect::<Vec<_>>()
        .join("&")
}

fn quote_plus(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for &b in s.as_bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'_' | b'.' | b'-' | b'~' => out.push(b as char),
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_formats_match_the_sdk() {
        let at = OffsetDateTime::from_unix_timestamp(1_795_682_211).unwrap_or(OffsetDateTime::UNIX_EPOCH);
        // The x-acs-date / date pair of the signing vectors.
        assert_eq!(iso8601(at), "2026-11-26T08:36:51Z");
        assert_eq!(rfc1123(at), "Thu, 26 Nov 2026 08:36:51 GMT");
    }

    #[test]
    fn query_on_the_wire_is_python_urlencode() {
        let pairs = |v: &[(&str, &str)]| {
            v.iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect::<Vec<_>>()
        };
        // Observed from the SDK: `ProductCodes=PAI_share%2COSS_share&ServiceCodes=a+b%2Fc~d%2A%2B`.
        assert_eq!(
            form_urlencode(&pairs(&[
                ("ProductCodes", "PAI_share,OSS_share"),
                ("ServiceCodes", "a b/c~d*+")
            ])),
            "ProductCodes=PAI_share%2COSS_share&ServiceCodes=a+b%2Fc~d%2A%2B"
        );
        assert_eq!(form_urlencode(&pairs(&[("N", "对象")])), "N=%E5%AF%B9%E8%B1%A1");
    }

    #[test]
    fn proxies_from_the_environment() {
        let env = |vars: &'static [(&'static str, &'static str)]| {
            move |name: &str| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string())
        };
        let url = |s: &str| Url::parse(s).expect("test URL");
        let p = EnvProxies::read(&env(&[
            ("https_proxy", "proxy.corp:3128"),
            ("HTTP_PROXY", "http://user:pw@plain.corp:80"),
            ("NO_PROXY", "internal.example, .aliyuncs.com:443"),
        ]));
        let p = p.unwrap_or_default();
        let host = |u: Option<Url>| u.and_then(|u| u.host_str().map(str::to_owned));
        assert_eq!(
            host(p.select(&url("https://api.example.com/x"))).as_deref(),
            Some("proxy.corp")
        );
        assert_eq!(
            host(p.select(&url("http://api.example.com/x"))).as_deref(),
            Some("plain.corp")
        );
        for direct in [
            "https://aiworkspace.cn-hangzhou.aliyuncs.com/",
            "https://internal.example/",
            "https://a.internal.example/",
            "http://127.0.0.1:8080/",
            "http://[::1]:8080/",
            "http://localhost:1/",
        ] {
            assert_eq!(p.select(&url(direct)), None, "{direct}");
        }
        assert_eq!(EnvProxies::read(&env(&[])).unwrap_or_default(), EnvProxies::default());
        let all = EnvProxies::read(&env(&[("ALL_PROXY", "socks5://s:1080"), ("no_proxy", "*")])).unwrap_or_default();
        assert!(all.https.is_some() && all.select(&url("https://x.example/")).is_none());
        let bad = EnvProxies::read(&env(&[("HTTPS_PROXY", "http://user:hunter2@[bad")]));
        let message = bad.err().map(|e| e.to_string()).unwrap_or_default();
        assert_eq!(message, "invalid proxy URL in HTTPS_PROXY");
    }
}
