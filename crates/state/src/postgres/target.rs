//! A PostgreSQL state location: the connection URL, parsed as libpq reads it, and the
//! password it resolves to (from the URL, `PGPASSWORD`, or the password file).
//!
//! Accepted: `postgres[ql]://[user[:password]@][host][:port][/dbname][?param=value&...]` with
//! the parameters `schema` (ours; default `pai_provision`), `sslmode`, `sslrootcert`,
//! `connect_timeout`, `application_name`, `host`, `port`, `user`, `dbname` and `password`.
//! An unknown parameter is an error: a misspelt `schema` must not silently pick the default.
//! Missing parts come from libpq's variables (`PGHOST`, `PGPORT`, `PGUSER`, `PGDATABASE`,
//! `PGPASSWORD`, `PGPASSFILE`, `PGSSLMODE`, `PGSSLROOTCERT`, `PGCONNECT_TIMEOUT`, `PGAPPNAME`).

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

use super::pgpass;

/// The schema a state lives in when the URL does not say.
pub const DEFAULT_SCHEMA: &str = "pai_provision";

const DEFAULT_PORT: u16 = 5432;
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

const PARAMS: &[&str] = &[
    "schema",
    "sslmode",
    "sslrootcert",
    "connect_timeout",
    "application_name",
    "host",
    "port",
    "user",
    "dbname",
    "password",
];

/// Characters kept as they are when a user or database name is put back into a URL.
const NAME: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// How the connection is protected, as libpq's `sslmode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SslMode {
    /// Plain TCP.
    Disable,
    /// TLS when the server offers it, without checking its certificate; plain otherwise.
    Prefer,
    /// TLS or nothing; the certificate is checked only against a root certificate file when
    /// one is given (`sslrootcert`, or `~/.postgresql/root.crt`), as libpq does.
    Require,
    /// TLS with a certificate from a trusted authority, for any host name.
    VerifyCa,
    /// TLS with a certificate from a trusted authority, for this host name.
    VerifyFull,
}

impl SslMode {
    pub fn as_str(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        }
    }

    fn parse(s: &str) -> Result<SslMode, String> {
        [
            SslMode::Disable,
            SslMode::Prefer,
            SslMode::Require,
            SslMode::VerifyCa,
            SslMode::VerifyFull,
        ]
        .into_iter()
        .find(|m| m.as_str() == s)
        .ok_or_else(|| {
            format!(
                "`sslmode={s}` is not supported; use disable, prefer (the default), require, verify-ca or verify-full"
            )
        })
    }
}

/// Where the server is.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Host {
    Tcp(String),
    /// The directory of a Unix-domain socket.
    Unix(PathBuf),
}

/// Where the password came from; said in errors, never the password itself.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PasswordSource {
    Url,
    Env,
    File(PathBuf),
}

impl fmt::Display for PasswordSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PasswordSource::Url => f.write_str("the URL"),
            PasswordSource::Env => f.write_str("PGPASSWORD"),
            PasswordSource::File(p) => write!(f, "the password file {}", p.display()),
        }
    }
}

/// A password. Its `Debug` says nothing; it is read only to connect.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl Password {
    // Only the driver reads the password, and it is built with the `postgres` feature.
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(***)")
    }
}

/// A parsed PostgreSQL state location. `Display` renders it as a URL with the password
/// replaced by `***`; so does `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct PgTarget {
    pub(crate) host: Host,
    pub(crate) port: u16,
    pub(crate) user: String,
    pub(crate) password: Option<(Password, PasswordSource)>,
    pub(crate) dbname: String,
    pub(crate) schema: String,
    pub(crate) sslmode: SslMode,
    /// Whether `sslmode` was given (in the URL or `PGSSLMODE`), so that it is shown.
    pub(crate) sslmode_given: bool,
    pub(crate) sslrootcert: Option<PathBuf>,
    /// `~/.postgresql/root.crt`, which libpq uses when `sslrootcert` is not given.
    pub(crate) default_rootcert: Option<PathBuf>,
    /// `None` waits as long as the operating system does.
    pub(crate) connect_timeout: Option<Duration>,
    pub(crate) application_name: Option<String>,
}

/// Whether `text` is a PostgreSQL URL rather than a file path.
pub fn is_postgres_url(text: &str) -> bool {
    let lower = text.get(..13).unwrap_or(text).to_ascii_lowercase();
    lower.starts_with("postgres://") || lower.starts_with("postgresql://")
}

impl PgTarget {
    /// Parses `url`, filling what it leaves out from `env` as libpq would, and resolves the
    /// password. Errors never quote the password.
    pub fn parse(url: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<PgTarget, String> {
        let rest = url
            .split_once("://")
            .map(|(_, r)| r)
            .ok_or_else(|| "not a postgres:// URL".to_owned())?;
        if rest.contains('#') {
            return Err("a fragment (`#...`) has no meaning in a state URL".into());
        }
        let (before_query, query) = match rest.split_once('?') {
            Some((b, q)) => (b, Some(q)),
            None => (rest, None),
        };
        let (authority, path) = match before_query.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (before_query, None),
        };
        let (userinfo, hostport) = match authority.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, authority),
        };

        let mut user = None;
        let mut password = None;
        if let Some(info) = userinfo {
            let (u, p) = match info.split_once(':') {
                Some((u, p)) => (u, Some(p)),
                None => (info, None),
            };
            user = Some(decode(u, "the user name")?).filter(|u| !u.is_empty());
            if let Some(p) = p {
                password = Some(decode(p, "the password")?);
            }
        }
        let (mut host, mut port) = split_host_port(hostport)?;
        let mut dbname = match path {
            Some(p) if p.contains('/') => return Err("the database name may not contain `/`".into()),
            Some(p) => Some(decode(p, "the database name")?).filter(|d| !d.is_empty()),
            None => None,
        };

        let mut schema = None;
        let mut sslmode = None;
        let mut sslrootcert = None;
        let mut connect_timeout = None;
        let mut application_name = None;
        for pair in query.into_iter().flat_map(|q| q.split('&')).filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let key = decode(key, "a parameter name")?;
            let value = decode(value, &format!("the value of `{key}`"))?;
            match key.as_str() {
                "schema" => schema = Some(value),
                "sslmode" => sslmode = Some(value),
                "sslrootcert" => sslrootcert = Some(value),
                "connect_timeout" => connect_timeout = Some(value),
                "application_name" => application_name = Some(value),
                "host" => host = Some(value),
                "port" => port = Some(parse_port(&value)?),
                "user" => user = Some(value),
                "dbname" => dbname = Some(value),
                "password" => password = Some(value),
                other => {
                    let hint = suggest(other)
                        .map(|s| format!(" (did you mean `{s}`?)"))
                        .unwrap_or_default();
                    return Err(format!(
                        "unknown parameter `{other}`{hint}; known: {}",
                        PARAMS.join(", ")
                    ));
                }
            }
        }

        let host = host
            .or_else(|| env("PGHOST"))
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "localhost".to_owned());
        let host = if host.starts_with('/') {
            Host::Unix(PathBuf::from(host))
        } else {
            Host::Tcp(host)
        };
        let port = match port {
            Some(p) => p,
            None => env("PGPORT")
                .map(|p| parse_port(&p))
                .transpose()?
                .unwrap_or(DEFAULT_PORT),
        };
        let user = user
            .or_else(|| env("PGUSER"))
            .or_else(|| env("USER"))
            .or_else(|| env("LOGNAME"))
            .filter(|u| !u.is_empty())
            .ok_or_else(|| "no user name: give one in the URL (postgres://USER@host/db) or in PGUSER".to_owned())?;
        let dbname = dbname
            .or_else(|| env("PGDATABASE"))
            .filter(|d| !d.is_empty())
            .unwrap_or_else(|| user.clone());
        let schema = schema.unwrap_or_else(|| DEFAULT_SCHEMA.to_owned());
        check_schema(&schema)?;
        let sslmode_text = sslmode.or_else(|| env("PGSSLMODE"));
        let sslmode_given = sslmode_text.is_some();
        let sslmode = sslmode_text
            .map(|s| SslMode::parse(&s))
            .transpose()?
            .unwrap_or(SslMode::Prefer);
        let sslrootcert = sslrootcert.or_else(|| env("PGSSLROOTCERT")).map(PathBuf::from);
        let home = env("HOME").map(PathBuf::from);
        let default_rootcert = home
            .as_ref()
            .map(|h| h.join(".postgresql/root.crt"))
            .filter(|p| p.is_file());
        let connect_timeout = match connect_timeout.or_else(|| env("PGCONNECT_TIMEOUT")) {
            None => Some(DEFAULT_CONNECT_TIMEOUT),
            Some(s) => match s.trim().parse::<u64>() {
                // libpq: zero waits forever, and anything below 2 s means 2 s.
                Ok(0) => None,
                Ok(n) => Some(Duration::from_secs(n.max(2))),
                Err(_) => return Err(format!("`connect_timeout={s}` is not a number of seconds")),
            },
        };
        let application_name = application_name.or_else(|| env("PGAPPNAME"));

        let mut target = PgTarget {
            host,
            port,
            user,
            password: password.map(|p| (Password(p), PasswordSource::Url)),
            dbname,
            schema,
            sslmode,
            sslmode_given,
            sslrootcert,
            default_rootcert,
            connect_timeout,
            application_name,
        };
        if target.password.is_none() {
            target.password = match env("PGPASSWORD").filter(|p| !p.is_empty()) {
                Some(p) => Some((Password(p), PasswordSource::Env)),
                None => target.password_from_file(env, home.as_deref()),
            };
        }
        Ok(target)
    }

    /// libpq's lookup in `PGPASSFILE` or `~/.pgpass`.
    fn password_from_file(
        &self,
        env: &dyn Fn(&str) -> Option<String>,
        home: Option<&std::path::Path>,
    ) -> Option<(Password, PasswordSource)> {
        let file = env("PGPASSFILE")
            .map(PathBuf::from)
            .or_else(|| home.map(|h| h.join(".pgpass")))?;
        // libpq matches a Unix-socket connection against `localhost`.
        let host = match &self.host {
            Host::Tcp(h) => h.as_str(),
            Host::Unix(_) => "localhost",
        };
        let key = pgpass::Key {
            host,
            port: self.port,
            dbname: &self.dbname,
            user: &self.user,
        };
        match pgpass::lookup_file(&file, &key) {
            Ok(Some(p)) => Some((Password(p), PasswordSource::File(file))),
            Ok(None) => None,
            Err(why) => {
                tracing::warn!("{why}");
                None
            }
        }
    }

    pub fn schema(&self) -> &str {
        &self.schema
    }

    /// The same database, another schema (a fleet account's: `crate::fleet`).
    pub(crate) fn with_schema(&self, schema: String) -> Result<PgTarget, String> {
        check_schema(&schema)?;
        Ok(PgTarget { schema, ..self.clone() })
    }

    pub fn database(&self) -> &str {
        &self.dbname
    }

    pub fn user(&self) -> &str {
        &self.user
    }

    pub fn sslmode(&self) -> SslMode {
        self.sslmode
    }

    /// Where the password came from, if there is one.
    pub fn password_source(&self) -> Option<&PasswordSource> {
        self.password.as_ref().map(|(_, s)| s)
    }

    /// The same server and database (not necessarily the same credentials).
    pub(crate) fn same_database(&self, other: &PgTarget) -> bool {
        self.host == other.host && self.port == other.port && self.dbname == other.dbname
    }

    pub(crate) fn same_schema(&self, other: &PgTarget) -> bool {
        self.same_database(other) && self.schema == other.schema
    }

    /// Replaces every occurrence of the password in `text`, for messages that come from the
    /// server or the driver, which should never contain it but are not ours to vouch for.
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    pub(crate) fn scrub(&self, text: &str) -> String {
        match &self.password {
            Some((p, _)) if p.expose().len() >= 4 => text.replace(p.expose(), "***"),
            _ => text.to_owned(),
        }
    }
}

impl fmt::Display for PgTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "postgres://{}", utf8_percent_encode(&self.user, NAME))?;
        if matches!(self.password, Some((_, PasswordSource::Url))) {
            f.write_str(":***")?;
        }
        f.write_str("@")?;
        let mut query = Vec::new();
        match &self.host {
            Host::Tcp(h) if h.contains(':') => write!(f, "[{h}]:{}", self.port)?,
            Host::Tcp(h) => write!(f, "{h}:{}", self.port)?,
            Host::Unix(dir) => {
                query.push(format!("host={}", dir.display()));
                if self.port != DEFAULT_PORT {
                    query.push(format!("port={}", self.port));
                }
            }
        }
        write!(f, "/{}", utf8_percent_encode(&self.dbname, NAME))?;
        query.push(format!("schema={}", self.schema));
        if self.sslmode_given {
            query.push(format!("sslmode={}", self.sslmode.as_str()));
        }
        write!(f, "?{}", query.join("&"))
    }
}

impl fmt::Debug for PgTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PgTarget({self})")
    }
}

/// `raw` with any password replaced by `***`, for a URL that could not be parsed. It keeps
/// the text recognisable without trusting any of it.
pub fn redact_url(raw: &str) -> String {
    let Some((scheme, rest)) = raw.split_once("://") else {
        return raw.to_owned();
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let authority = match authority.rsplit_once('@') {
        Some((info, host)) => match info.split_once(':') {
            Some((user, _)) => format!("{user}:***@{host}"),
            None => format!("{info}@{host}"),
        },
        None => authority.to_owned(),
    };
    let tail = match tail.split_once('?') {
        Some((path, query)) => {
            let params: Vec<String> = query
                .split('&')
                .map(|p| match p.split_once('=') {
                    Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=***"),
                    _ => p.to_owned(),
                })
                .collect();
            format!("{path}?{}", params.join("&"))
        }
        None => tail.to_owned(),
    };
    format!("{scheme}://{authority}{tail}")
}

fn decode(s: &str, what: &str) -> Result<String, String> {
    percent_decode_str(s)
        .decode_utf8()
        .map(|c| c.into_owned())
        .map_err(|_| format!("{what} is not valid UTF-8 once percent-decoded"))
}

fn parse_port(s: &str) -> Result<u16, String> {
    s.parse::<u16>()
        .ok()
        .filter(|p| *p != 0)
        .ok_or_else(|| format!("`{s}` is not a port number"))
}

/// `host`, `host:port`, `[v6]`, `[v6]:port`, or nothing. A percent-encoded host starting with
/// `/` is a Unix socket directory, as in libpq.
fn split_host_port(s: &str) -> Result<(Option<String>, Option<u16>), String> {
    if s.is_empty() {
        return Ok((None, None));
    }
    if s.contains(',') {
        return Err("several hosts are not supported; give one".into());
    }
    let (host, port) = if let Some(v6) = s.strip_prefix('[') {
        let (h, after) = v6
            .split_once(']')
            .ok_or_else(|| "an IPv6 host must be closed with `]`".to_owned())?;
        match after {
            "" => (h.to_owned(), None),
            p => match p.strip_prefix(':') {
                Some(p) => (h.to_owned(), Some(parse_port(p)?)),
                None => return Err(format!("unexpected `{p}` after the IPv6 host")),
            },
        }
    } else {
        match s.rsplit_once(':') {
            Some((h, p)) => (decode(h, "the host")?, Some(parse_port(p)?)),
            None => (decode(s, "the host")?, None),
        }
    };
    Ok((Some(host).filter(|h| !h.is_empty()), port))
}

/// Schema names are plain lower-case identifiers, so that they never need quoting or case
/// folding and cannot collide with PostgreSQL's own `pg_` schemas.
fn check_schema(schema: &str) -> Result<(), String> {
    let mut chars = schema.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_lowercase() || c == '_');
    let rest_ok = chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if first_ok && rest_ok && schema.len() <= 63 && !schema.starts_with("pg_") {
        Ok(())
    } else {
        Err(format!(
            "`schema={schema}` is not usable: a schema name is a lower-case identifier (a-z, 0-9, _; not starting \
             with a digit or `pg_`; at most 63 characters)"
        ))
    }
}

fn suggest(unknown: &str) -> Option<&'static str> {
    PARAMS
        .iter()
        .copied()
        .map(|p| (p, edit_distance(unknown, p)))
        .filter(|(_, d)| *d <= 2)
        .min_by_key(|(_, d)| *d)
        .map(|(p, _)| p)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn env(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: BTreeMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move |k| map.get(k).cloned()
    }

    fn parse(url: &str) -> PgTarget {
        PgTarget::parse(url, &env(&[("USER", "ci")])).unwrap()
    }

    #[test]
    fn urls_render_without_their_password() {
        let cases = [
            (
                "postgres://pai:s3cret@127.0.0.1:5433/postgres",
                "postgres://pai:***@127.0.0.1:5433/postgres?schema=pai_provision",
            ),
            (
                "postgresql://pai@db.example.com/infra?schema=team_a&sslmode=verify-full",
                "postgres://pai@db.example.com:5432/infra?schema=team_a&sslmode=verify-full",
            ),
            (
                "postgres://[::1]:6000/x",
                "postgres://ci@[::1]:6000/x?schema=pai_provision",
            ),
            ("postgres://", "postgres://ci@localhost:5432/ci?schema=pai_provision"),
            (
                "postgres://u@%2Fvar%2Frun%2Fpostgresql/db",
                "postgres://u@/db?host=/var/run/postgresql&schema=pai_provision",
            ),
            (
                "postgres://u@/db?host=/tmp&port=6432",
                "postgres://u@/db?host=/tmp&port=6432&schema=pai_provision",
            ),
            (
                "postgres://us%40er:p%3Ass@h/d%20b?password=also",
                "postgres://us%40er:***@h:5432/d%20b?schema=pai_provision",
            ),
        ];
        for (url, shown) in cases {
            let t = parse(url);
            assert_eq!(t.to_string(), shown, "{url}");
            assert_eq!(format!("{t:?}"), format!("PgTarget({shown})"));
        }
        let t = parse("postgres://us%40er:p%3Ass@h/d%20b");
        assert_eq!(t.user, "us@er");
        assert_eq!(t.dbname, "d b");
        assert_eq!(t.password.as_ref().map(|(p, _)| p.expose()), Some("p:ss"));
    }

    #[test]
    fn defaults_come_from_libpq_variables() {
        let e = env(&[
            ("PGHOST", "pg.internal"),
            ("PGPORT", "6543"),
            ("PGUSER", "deploy"),
            ("PGDATABASE", "infra"),
            ("PGSSLMODE", "require"),
            ("PGPASSWORD", "from-env"),
            ("PGCONNECT_TIMEOUT", "1"),
        ]);
        let t = PgTarget::parse("postgres://", &e).unwrap();
        assert_eq!(t.host, Host::Tcp("pg.internal".into()));
        assert_eq!((t.port, t.user.as_str(), t.dbname.as_str()), (6543, "deploy", "infra"));
        assert_eq!(t.sslmode, SslMode::Require);
        assert_eq!(t.connect_timeout, Some(Duration::from_secs(2)));
        assert_eq!(t.password_source(), Some(&PasswordSource::Env));
        // The URL wins over the environment, for the password too.
        let t = PgTarget::parse("postgres://a:b@h:1/d?sslmode=disable", &e).unwrap();
        assert_eq!((t.port, t.user.as_str(), t.sslmode), (1, "a", SslMode::Disable));
        assert_eq!(t.password_source(), Some(&PasswordSource::Url));
    }

    #[test]
    fn bad_urls_say_what_is_wrong() {
        let cases = [
            ("postgres://h/d?shema=x", "did you mean `schema`"),
            ("postgres://h/d?schema=Team", "lower-case identifier"),
            ("postgres://h/d?schema=pg_x", "lower-case identifier"),
            ("postgres://h/d?sslmode=allow", "not supported"),
            ("postgres://h:99999/d", "not a port number"),
            ("postgres://a,b/d", "several hosts"),
            ("postgres://h/d/e", "may not contain"),
            ("postgres://h/d#x", "fragment"),
            ("postgres://h/d?connect_timeout=soon", "seconds"),
        ];
        for (url, want) in cases {
            let err = PgTarget::parse(url, &env(&[("USER", "ci")])).unwrap_err();
            assert!(err.contains(want), "{url}: {err}");
        }
        let err = PgTarget::parse("postgres://h/d", &env(&[])).unwrap_err();
        assert!(err.contains("no user name"), "{err}");
    }

    #[test]
    fn redact_url_table() {
        let cases = [
            ("postgres://u:pw@h/d", "postgres://u:***@h/d"),
            ("postgres://u:p@w@h/d?x=1", "postgres://u:***@h/d?x=1"),
            ("postgres://u@h/d?password=pw&a=b", "postgres://u@h/d?password=***&a=b"),
            ("postgres://h", "postgres://h"),
            ("state.db", "state.db"),
        ];
        for (raw, want) in cases {
            assert_eq!(redact_url(raw), want, "{raw}");
        }
    }

    #[test]
    fn scrub_replaces_the_password() {
        let t = parse("postgres://u:longsecret@h/d");
        assert_eq!(t.scrub("auth failed for longsecret"), "auth failed for ***");
    }

    #[test]
    fn is_postgres_url_table() {
        for (text, want) in [
            ("postgres://x", true),
            ("POSTGRESQL://x", true),
            ("postgres:x", false),
            ("./postgres://x", false),
            ("state.db", false),
        ] {
            assert_eq!(is_postgres_url(text), want, "{text}");
        }
    }
}
