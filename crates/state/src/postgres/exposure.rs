//! What a PostgreSQL state's connection leaves open on the way to a server on another machine:
//! an `sslmode` weaker than `verify-full` lets the password and the state (every order, who made
//! it) travel in the clear, or to a server that only claims to be the one named. Said, not
//! refused: a private network may be trusted, and libpq's own default is `prefer`.

use std::fmt;
use std::net::IpAddr;

use super::target::{Host, PgTarget, SslMode};

/// How the connection to a state's server on another machine can be read or diverted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exposure {
    /// `host:port`.
    pub server: String,
    pub sslmode: SslMode,
    pub risk: Risk,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Risk {
    /// `disable`: no TLS.
    Unencrypted,
    /// `prefer`: no TLS when the server, or anyone in between, declines it; never verified.
    MaybeUnencrypted,
    /// `require` without a root certificate: encrypted, to whoever answers.
    ServerUnverified,
    /// `verify-ca`, or `require` with a root certificate: any server that the authority
    /// certified, for whatever name.
    HostNameUnchecked,
}

impl PgTarget {
    /// What this connection leaves open, when its server is not on this machine and `sslmode`
    /// is weaker than `verify-full`.
    pub fn exposure(&self) -> Option<Exposure> {
        let Host::Tcp(host) = &self.host else { return None };
        if is_loopback(host) {
            return None;
        }
        // As the connection decides (`conn::tls_config`): `system` names no root file.
        let root_file = match self.sslrootcert.as_deref() {
            Some(p) if p.as_os_str() == "system" => false,
            Some(_) => true,
            None => self.default_rootcert.is_some(),
        };
        let risk = match self.sslmode {
            SslMode::VerifyFull => return None,
            SslMode::Disable => Risk::Unencrypted,
            SslMode::Prefer => Risk::MaybeUnencrypted,
            SslMode::Require if !root_file => Risk::ServerUnverified,
            SslMode::Require | SslMode::VerifyCa => Risk::HostNameUnchecked,
        };
        let server = if host.contains(':') {
            format!("[{host}]:{}", self.port)
        } else {
            format!("{host}:{}", self.port)
        };
        Some(Exposure {
            server,
            sslmode: self.sslmode,
            risk,
        })
    }
}

/// `localhost`, or an address of the loopback interface: the connection never leaves this machine.
fn is_loopback(host: &str) -> bool {
    let host = host.strip_suffix('.').unwrap_or(host);
    if host.eq_ignore_ascii_case("localhost") {
        return true;
    }
    match host.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>() {
        Ok(IpAddr::V4(v4)) => v4.is_loopback(),
        Ok(IpAddr::V6(v6)) => v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback()),
        Err(_) => false,
    }
}

impl fmt::Display for Exposure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.risk {
            Risk::Unencrypted => "the password and the state travel unencrypted, to a server that is not verified",
            Risk::MaybeUnencrypted => {
                "the password and the state travel unencrypted whenever the server, or anyone in between, declines \
                 TLS, and the server is never verified"
            }
            Risk::ServerUnverified => {
                "the connection is encrypted but the server is not verified: anyone on the way can pose as it and \
                 receive the password and the state"
            }
            Risk::HostNameUnchecked => {
                "the certificate's authority is checked but not the host name: any server that authority certified \
                 can pose as this one and receive the password and the state"
            }
        };
        write!(
            f,
            "the PostgreSQL state on {} is reached with sslmode={}: {what}. Use sslmode=verify-full (with \
             sslrootcert=FILE when the server's certificate is from a private authority)",
            self.server,
            self.sslmode.as_str()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exposure(url: &str, env: &[(&str, &str)]) -> Option<Risk> {
        let env = |name: &str| env.iter().find(|(k, _)| *k == name).map(|(_, v)| (*v).to_owned());
        PgTarget::parse(url, &env)
            .unwrap_or_else(|e| panic!("{url}: {e}"))
            .exposure()
            .map(|e| e.risk)
    }

    #[test]
    fn exposure_table() {
        let cases = [
            ("postgres://ci@db.example/infra", None, Some(Risk::MaybeUnencrypted)),
            (
                "postgres://ci@db.example/infra?sslmode=disable",
                None,
                Some(Risk::Unencrypted),
            ),
            (
                "postgres://ci@db.example/infra?sslmode=prefer",
                None,
                Some(Risk::MaybeUnencrypted),
            ),
            (
                "postgres://ci@db.example/infra?sslmode=require",
                None,
                Some(Risk::ServerUnverified),
            ),
            (
                "postgres://ci@db.example/infra?sslmode=require&sslrootcert=system",
                None,
                Some(Risk::ServerUnverified),
            ),
            (
                "postgres://ci@db.example/infra?sslmode=require&sslrootcert=/ca.pem",
                None,
                Some(Risk::HostNameUnchecked),
            ),
            (
                "postgres://ci@db.example/infra?sslmode=verify-ca",
                None,
                Some(Risk::HostNameUnchecked),
            ),
            ("postgres://ci@db.example/infra?sslmode=verify-full", None, None),
            (
                "postgres://ci@10.0.0.5:6432/infra?sslmode=require",
                None,
                Some(Risk::ServerUnverified),
            ),
            (
                "postgres://ci@[2001:db8::1]/infra?sslmode=require",
                None,
                Some(Risk::ServerUnverified),
            ),
            (
                "postgres://ci@/infra",
                Some(("PGHOST", "db.example")),
                Some(Risk::MaybeUnencrypted),
            ),
            (
                "postgres://ci@db.example/infra",
                Some(("PGSSLMODE", "verify-full")),
                None,
            ),
            // Loopback and Unix sockets never leave the machine.
            ("postgres://ci@localhost/infra?sslmode=disable", None, None),
            ("postgres://ci@LOCALHOST./infra?sslmode=disable", None, None),
            ("postgres://ci@127.0.0.1:55591/infra?sslmode=require", None, None),
            ("postgres://ci@127.8.9.1/infra", None, None),
            ("postgres://ci@[::1]/infra?sslmode=prefer", None, None),
            ("postgres://ci@[::ffff:127.0.0.1]/infra", None, None),
            ("postgres://ci@/infra", None, None),
            (
                "postgres://ci@%2Fvar%2Frun%2Fpostgresql/infra?sslmode=disable",
                None,
                None,
            ),
            ("postgres://ci@/infra?host=/tmp&sslmode=disable", None, None),
        ];
        for (url, env, want) in cases {
            let env: Vec<(&str, &str)> = env.into_iter().collect();
            assert_eq!(exposure(url, &env), want, "{url} {env:?}");
        }
    }

    #[test]
    fn the_warning_names_the_server_the_mode_and_the_risk() {
        let env = |_: &str| None;
        let said = |url: &str| {
            PgTarget::parse(url, &env)
                .unwrap()
                .exposure()
                .map(|e| e.to_string())
                .unwrap_or_default()
        };
        let require = said("postgres://ci:hunter2@db.example:6432/infra?sslmode=require");
        for needed in [
            "db.example:6432",
            "sslmode=require",
            "not verified",
            "password",
            "verify-full",
        ] {
            assert!(require.contains(needed), "{needed}: {require}");
        }
        assert!(!require.contains("hunter2"), "{require}");
        assert!(said("postgres://ci@db/infra?sslmode=disable").contains("unencrypted"));
        assert!(said("postgres://ci@[2001:db8::1]/i?sslmode=verify-ca").contains("[2001:db8::1]:5432"));
    }
}
