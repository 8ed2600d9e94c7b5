//! Shared by the client tests: a scripted HTTP server on loopback that records every request it
//! reads and then does what the script says for it (answer, close the socket, hang), small
//! builders for clients, and an emulator on loopback that accepts the test key pair. The
//! orders and the emulator harness come from `pai_testkit`.
#![allow(dead_code, unused_imports)]

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use pai_apply::client::ProxyConfig;
use pai_apply::{Client, ClientConfig, Credentials, EndpointResolver, RetryPolicy, StaticCredentials};
use pai_spec::SignatureVersion;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// One request as it arrived on the socket.
#[derive(Debug, Clone)]
pub struct Captured {
    pub method: String,
    /// The request target's path.
    pub path: String,
    /// The raw query string as sent (still encoded).
    pub query: String,
    /// Lower-case names, values as sent, in arrival order.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub at: Instant,
}

impl Captured {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

/// What the server does with one request.
#[derive(Debug, Clone)]
pub enum Step {
    /// Answer with this status, extra headers and body, then close the connection.
    Respond(u16, Vec<(String, String)>, String),
    /// Close the socket without a byte of response.
    Close,
    /// Say nothing for this long, then close.
    Hang(Duration),
    /// Compute the step from the request, as a server that echoes what it received.
    Reply(Responder),
}

/// A step computed from the request it answers.
#[derive(Clone)]
pub struct Responder(pub Arc<dyn Fn(&Captured) -> Step + Send + Sync>);

impl std::fmt::Debug for Responder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Responder")
    }
}

impl Step {
    pub fn json(status: u16, body: &str) -> Step {
        Step::Respond(status, Vec::new(), body.to_owned())
    }
}

/// A loopback HTTP/1.1 server following a script, one step per request; after the script it
/// answers every request with the `fallback` step.
pub struct ScriptedServer {
    pub addr: SocketAddr,
    seen: Arc<Mutex<Vec<Captured>>>,
    task: tokio::task::JoinHandle<()>,
}

impl ScriptedServer {
    pub async fn start(script: Vec<Step>, fallback: Step) -> ScriptedServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local addr");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let script = Arc::new(Mutex::new(VecDeque::from(script)));
        let task = {
            let seen = Arc::clone(&seen);
            tokio::spawn(async move {
                loop {
                    let Ok((stream, _)) = listener.accept().await else {
                        return;
                    };
                    let seen = Arc::clone(&seen);
                    let script = Arc::clone(&script);
                    let fallback = fallback.clone();
                    tokio::spawn(async move { serve(stream, seen, script, fallback).await });
                }
            })
        };
        ScriptedServer { addr, seen, task }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn requests(&self) -> Vec<Captured> {
        self.seen.lock().expect("lock").clone()
    }
}

impl Drop for ScriptedServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(
    mut stream: TcpStream,
    seen: Arc<Mutex<Vec<Captured>>>,
    script: Arc<Mutex<VecDeque<Step>>>,
    fallback: Step,
) {
    let Some(captured) = read_request(&mut stream).await else {
        return;
    };
    let step = script.lock().expect("lock").pop_front().unwrap_or(fallback);
    let step = match step {
        Step::Reply(Responder(reply)) => reply(&captured),
        step => step,
    };
    seen.lock().expect("lock").push(captured);
    match step {
        Step::Respond(status, headers, body) => {
            let mut head = format!(
                "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n",
                body.len()
            );
            for (k, v) in headers {
                head.push_str(&format!("{k}: {v}\r\n"));
            }
            head.push_str("\r\n");
            let _ = stream.write_all(head.as_bytes()).await;
            let _ = stream.write_all(body.as_bytes()).await;
            let _ = stream.shutdown().await;
        }
        Step::Close | Step::Reply(_) => drop(stream),
        Step::Hang(duration) => {
            tokio::time::sleep(duration).await;
            drop(stream);
        }
    }
}

async fn read_request(stream: &mut TcpStream) -> Option<Captured> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(pos) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break pos;
        }
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let at = Instant::now();
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let mut lines = head.split("\r\n");
    let mut request_line = lines.next()?.split(' ');
    let method = request_line.next()?.to_owned();
    let target = request_line.next()?.to_owned();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let length: usize = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = buf[head_end + 4..].to_vec();
    while body.len() < length {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p.to_owned(), q.to_owned()),
        None => (target, String::new()),
    };
    Some(Captured {
        method,
        path,
        query,
        headers,
        body,
        at,
    })
}

/// The client tests' region.
pub use pai_testkit::fixtures::hangzhou as region;
pub use pai_testkit::fixtures::{oss_order, pai_order};

pub const ORDER_OK: &str = r#"{"RequestId":"REQ-1","OrderId":"ORDER-1","Message":"success","BuyProductRequestId":"BUY-1","ProductIds":["P-1"]}"#;
pub const LIST_OK: &str = r#"{"RequestId":"REQ-2","Products":[{"ProductCode":"PAI_share","IsPurchased":true,"ProductId":"P-9"}],"Services":[]}"#;

/// Small, fast retry settings for tests.
pub fn fast_retry(max_elapsed_ms: u64) -> RetryPolicy {
    RetryPolicy {
        max_elapsed: Duration::from_millis(max_elapsed_ms),
        base: Duration::from_millis(20),
        max_delay: Duration::from_millis(100),
    }
}

pub fn config(endpoint: &str, signature: SignatureVersion, retry: RetryPolicy) -> ClientConfig {
    ClientConfig {
        endpoint: EndpointResolver::new(Some(endpoint.to_owned()), Default::default()),
        signature,
        connect_timeout: Duration::from_secs(2),
        read_timeout: Duration::from_secs(5),
        retry,
        user_agent: "pai-provision-test/1.0".into(),
        proxy: ProxyConfig::Disabled,
    }
}

pub fn client(config: ClientConfig, credentials: Credentials) -> Client {
    Client::new(config, Arc::new(StaticCredentials::new(credentials))).expect("client")
}

pub const AK: &str = "LTAI5tEmulatorKey";
pub const SECRET: &str = "emulator-secret-value";

pub use pai_testkit::emulator::loopback;

/// An emulator for `regions` that accepts [`AK`] and [`SECRET`], on the current runtime.
pub fn emulator(regions: &[&str]) -> pai_emulator::Emulator {
    let regions: Vec<_> = regions.iter().map(|r| pai_testkit::fixtures::region(r)).collect();
    pai_testkit::emulator::spawn(pai_testkit::emulator::config(&regions, AK, SECRET))
}

/// Every log line of this test binary at TRACE, from every crate, as a `-vvv` run would print
/// it (without colour), for the tests that prove no secret reaches the logs.
#[derive(Clone, Default)]
pub struct Logs(Arc<Mutex<Vec<u8>>>);

impl Logs {
    /// Installs the process-wide subscriber: once per test binary, so each such test has a
    /// binary of its own.
    pub fn capture() -> Logs {
        let logs = Logs::default();
        let writer = logs.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("the only subscriber of this binary");
        logs
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().expect("lock")).to_string()
    }
}

impl std::io::Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("lock").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
