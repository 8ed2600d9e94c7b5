//! One PostgreSQL session, usable from synchronous code anywhere, including from inside a Tokio
//! runtime.
//!
//! The session's socket is driven by a current-thread runtime on a thread the session owns; the
//! caller's thread only sends requests over channels and waits for their answers with
//! [`block_on`], which needs no runtime. This is why the state writer can be called from the
//! executor's tasks: a client that ran its own runtime on the caller's thread (as the
//! synchronous `postgres` crate does) would panic there ("Cannot start a runtime from within a
//! runtime"). Dropping the session closes it, which releases its advisory locks on the server.

use std::future::Future;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};
use rustls_pki_types::pem::PemObject;
use tokio_postgres::Client;
use tokio_postgres_rustls::MakeRustlsConnect;

use super::target::{Host, PgTarget, SslMode};
use crate::{StateError, StateLocation};

/// An open session. Dropping it drops the client, which ends the driver's connection future
/// and closes the session: the server then releases whatever the session held.
pub(crate) struct Conn {
    client: Client,
}

impl std::fmt::Debug for Conn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Conn")
    }
}

impl Conn {
    /// Connects to `target` and points the session's `search_path` at the state's schema, so
    /// that every statement names its tables without a schema.
    pub(crate) fn open(location: &StateLocation, target: &PgTarget) -> Result<Conn, StateError> {
        let config = config(target);
        let tls = MakeRustlsConnect::new(tls_config(target).map_err(|why| super::failure(location, why))?);
        let (sender, receiver) = std::sync::mpsc::channel();
        let driver = std::thread::Builder::new()
            .name("pai-postgres".into())
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = sender.send(Err(Failure::Runtime(e.to_string())));
                        return;
                    }
                };
                runtime.block_on(async move {
                    match config.connect(tls).await {
                        Ok((client, connection)) => {
                            let _ = sender.send(Ok(client));
                            // Runs until the client is dropped or the server goes away.
                            if let Err(e) = connection.await {
                                tracing::debug!("the PostgreSQL session ended: {e}");
                            }
                        }
                        Err(e) => {
                            let _ = sender.send(Err(Failure::Connect(e)));
                        }
                    }
                });
            })
            .map_err(|e| super::failure(location, format!("starting the connection thread: {e}")))?;
        let client = match receiver.recv() {
            Ok(Ok(client)) => client,
            Ok(Err(Failure::Connect(e))) => {
                let _ = driver.join();
                return Err(connect_error(location, target, e));
            }
            Ok(Err(Failure::Runtime(why))) => {
                return Err(super::failure(
                    location,
                    format!("starting the connection runtime: {why}"),
                ))
            }
            Err(_) => {
                return Err(super::failure(
                    location,
                    "the connection thread ended without connecting".into(),
                ))
            }
        };
        let search_path = format!("SET search_path TO \"{}\"", target.schema());
        block_on(client.batch_execute(&search_path)).map_err(|e| super::error(location, e))?;
        Ok(Conn { client })
    }

    pub(crate) fn client(&self) -> &Client {
        &self.client
    }

    pub(crate) fn client_mut(&mut self) -> &mut Client {
        &mut self.client
    }
}

enum Failure {
    Connect(tokio_postgres::Error),
    Runtime(String),
}

fn config(target: &PgTarget) -> tokio_postgres::Config {
    let mut config = tokio_postgres::Config::new();
    match &target.host {
        Host::Tcp(h) => config.host(h),
        Host::Unix(dir) => config.host_path(dir),
    };
    config
        .port(target.port)
        .user(&target.user)
        .dbname(&target.dbname)
        .application_name(target.application_name.as_deref().unwrap_or("pai-provision"))
        .ssl_mode(match target.sslmode {
            SslMode::Disable => tokio_postgres::config::SslMode::Disable,
            SslMode::Prefer => tokio_postgres::config::SslMode::Prefer,
            SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => tokio_postgres::config::SslMode::Require,
        })
        // A peer that vanishes (a runner deleted mid-apply) is noticed within minutes.
        .keepalives(true)
        .keepalives_idle(Duration::from_secs(30))
        .keepalives_interval(Duration::from_secs(10))
        .keepalives_retries(6);
    if let Some(timeout) = target.connect_timeout {
        config.connect_timeout(timeout);
    }
    if let Some((password, _)) = &target.password {
        config.password(password.expose());
    }
    config
}

fn connect_error(location: &StateLocation, target: &PgTarget, e: tokio_postgres::Error) -> StateError {
    let mut context = "cannot connect".to_owned();
    // The server refused the password (28P01), or asked for one and the driver had none.
    let refused = e.as_db_error().map(|d| d.code().code()) == Some("28P01");
    let missing = !refused && e.as_db_error().is_none() && super::describe(&e).contains("password missing");
    match target.password_source() {
        Some(source) if refused => context.push_str(&format!(" (the password came from {source})")),
        None if refused || missing => context.push_str(
            " (no password was given: put it in the URL, PGPASSWORD, or the password file ~/.pgpass or PGPASSFILE)",
        ),
        _ => {}
    }
    super::error_in(location, &context, e)
}

/// Polls `future` to completion on this thread, parking it while the future waits. The
/// futures of a [`Client`] are woken by the driver thread, so nothing here needs a runtime.
pub(crate) fn block_on<F: Future>(future: F) -> F::Output {
    struct Unpark(std::thread::Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
        fn wake_by_ref(self: &Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut future = std::pin::pin!(future);
    loop {
        match future.as_mut().poll(&mut cx) {
            Poll::Ready(value) => return value,
            // A wake-up that came before the park makes the park return at once.
            Poll::Pending => std::thread::park(),
        }
    }
}

/// The TLS client configuration for `target`'s `sslmode` (unused with `disable`).
///
/// - `prefer`, `require`: encrypt without checking the certificate, as libpq does, unless a
///   root certificate file is given (`sslrootcert`, or `~/.postgresql/root.crt`), in which case
///   `require` checks the chain as `verify-ca`.
/// - `verify-ca`: the chain must lead to a trusted root; the host name is not checked.
/// - `verify-full`: the chain and the host name.
///
/// Trusted roots: the `sslrootcert` file, else `~/.postgresql/root.crt`, else the Mozilla roots
/// (`sslrootcert=system` asks for those explicitly).
fn tls_config(target: &PgTarget) -> Result<rustls::ClientConfig, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let explicit_roots = match target.sslrootcert.as_deref() {
        Some(p) if p.as_os_str() == "system" => None,
        Some(p) => Some(p.to_owned()),
        None => target.default_rootcert.clone(),
    };
    let verifier: Arc<dyn ServerCertVerifier> = match (target.sslmode, &explicit_roots) {
        (SslMode::Disable | SslMode::Prefer, _) | (SslMode::Require, None) => {
            Arc::new(EncryptOnly(Arc::clone(&provider)))
        }
        (SslMode::Require | SslMode::VerifyCa, roots) => Arc::new(ChainOnly(webpki(roots.as_deref(), &provider)?)),
        (SslMode::VerifyFull, roots) => webpki(roots.as_deref(), &provider)?,
    };
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup: {e}"))?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth())
}

fn webpki(
    roots_file: Option<&std::path::Path>,
    provider: &Arc<CryptoProvider>,
) -> Result<Arc<WebPkiServerVerifier>, String> {
    let mut roots = RootCertStore::empty();
    match roots_file {
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
        Some(file) => {
            let certs = CertificateDer::pem_file_iter(file)
                .and_then(|iter| iter.collect::<Result<Vec<_>, _>>())
                .map_err(|e| format!("sslrootcert {}: {e}", file.display()))?;
            let (added, _) = roots.add_parsable_certificates(certs);
            if added == 0 {
                return Err(format!("sslrootcert {}: no usable certificate in it", file.display()));
            }
        }
    }
    WebPkiServerVerifier::builder_with_provider(Arc::new(roots), Arc::clone(provider))
        .build()
        .map_err(|e| format!("TLS setup: {e}"))
}

/// Accepts any certificate but still checks that the server holds its key.
#[derive(Debug)]
struct EncryptOnly(Arc<CryptoProvider>);

impl ServerCertVerifier for EncryptOnly {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// `verify-ca`: the full check, except that a certificate for another name is accepted.
#[derive(Debug)]
struct ChainOnly(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_on_waits_for_a_future_woken_by_another_thread() {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let sender = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(30));
            tx.send(7).unwrap();
        });
        assert_eq!(block_on(rx).unwrap(), 7);
        sender.join().unwrap();
    }

    #[test]
    fn block_on_works_inside_a_multi_thread_runtime() {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .build()
            .unwrap();
        let got = rt.block_on(async {
            tokio::spawn(async {
                let (tx, rx) = tokio::sync::oneshot::channel();
                std::thread::spawn(move || tx.send("ok").unwrap());
                block_on(rx).unwrap()
            })
            .await
            .unwrap()
        });
        assert_eq!(got, "ok");
    }

    #[test]
    fn tls_configs_build_for_every_mode() {
        let no_env = |_: &str| None;
        for mode in ["disable", "prefer", "require", "verify-ca", "verify-full"] {
            let t = PgTarget::parse(&format!("postgres://u@h/d?sslmode={mode}"), &no_env).unwrap();
            assert!(tls_config(&t).is_ok(), "{mode}");
        }
        let t = PgTarget::parse(
            "postgres://u@h/d?sslmode=verify-full&sslrootcert=/nonexistent.pem",
            &no_env,
        )
        .unwrap();
        let err = tls_config(&t).unwrap_err();
        assert!(err.contains("/nonexistent.pem"), "{err}");
    }
}
