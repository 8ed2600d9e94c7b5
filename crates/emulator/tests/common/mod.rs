//! Shared by the integration tests: start an emulator on 127.0.0.1:0, sign requests with
//! `pai-sign` exactly as the SDK does (with knobs to break them), send them with reqwest or
//! over a raw TCP socket, and run the official SDK's conformance script.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use pai_emulator::{Emulator, EmulatorConfig, Faults};
use pai_sign::wire;
use pai_spec::Region;
use serde_json::Value;
use time::OffsetDateTime;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub const AK: &str = "LTAI5tTestKeyId";
pub const SECRET: &str = "TestSecret/with+chars=";

pub fn region(s: &str) -> Region {
    Region::parse(s).unwrap()
}

pub fn any_port() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

pub fn config(regions: &[&str]) -> EmulatorConfig {
    EmulatorConfig::new(
        regions.iter().map(|r| (region(r), any_port())).collect(),
        vec![(AK.to_owned(), SECRET.to_owned())],
    )
}

pub async fn start(regions: &[&str]) -> Emulator {
    pai_emulator::start(config(regions)).await.unwrap()
}

pub async fn start_with_faults(spec: &str, seed: u64) -> Emulator {
    let mut c = config(&["cn-hangzhou"]);
    c.faults = spec.parse::<Faults>().unwrap();
    c.seed = seed;
    pai_emulator::start(c).await.unwrap()
}

pub fn addr(emu: &Emulator, r: &str) -> SocketAddr {
    emu.addrs()[&region(r)]
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algo {
    V3,
    V2,
}

pub const PAI_ORDER: &str = r#"{"AutoPay":true,"Products":[{"AutoRenew":false,"ChargeType":"POSTPAY","Duration":1,"InstanceProperties":[],"OrderType":"BUY","ProductCode":"PAI_share"}]}"#;

/// One API call, signed as the official SDK would sign it.
#[derive(Debug, Clone)]
pub struct Call {
    pub method: &'static str,
    pub path: &'static str,
    pub action: &'static str,
    /// `x-acs-version`: AIWorkSpace's, or an RPC API's.
    pub version: &'static str,
    pub query: Vec<(String, String)>,
    /// Sent (and signed) when there is a body.
    pub content_type: &'static str,
    pub body: Vec<u8>,
    pub algo: Algo,
    pub access_key_id: String,
    pub secret: String,
    pub token: Option<String>,
    pub date: OffsetDateTime,
    pub nonce: String,
}

impl Call {
    pub fn list(algo: Algo, codes: &str) -> Call {
        Call {
            method: wire::LIST_PRODUCTS.method,
            path: wire::LIST_PRODUCTS.path,
            action: wire::LIST_PRODUCTS.action,
            version: wire::API_VERSION,
            query: vec![("ProductCodes".into(), codes.into()), ("Verbose".into(), "true".into())],
            content_type: "application/json; charset=utf-8",
            body: Vec::new(),
            algo,
            access_key_id: AK.into(),
            secret: SECRET.into(),
            token: None,
            date: OffsetDateTime::now_utc(),
            nonce: uuid::Uuid::new_v4().simple().to_string(),
        }
    }

    pub fn order(algo: Algo, body: &str) -> Call {
        Call {
            method: wire::CREATE_PRODUCT_ORDERS.method,
            path: wire::CREATE_PRODUCT_ORDERS.path,
            action: wire::CREATE_PRODUCT_ORDERS.action,
            query: Vec::new(),
            body: body.as_bytes().to_vec(),
            ..Call::list(algo, "")
        }
    }

    /// A signed RPC call (`POST /`), its parameters in the query, as the official SDK sends
    /// STS and Resource Manager calls.
    pub fn rpc(action: &'static str, version: &'static str, params: &[(&str, &str)]) -> Call {
        Call {
            method: "POST",
            path: "/",
            action,
            version,
            query: params.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            ..Call::list(Algo::V3, "")
        }
    }

    /// [`Call::rpc`] with the parameters in a form body instead.
    pub fn rpc_form(action: &'static str, version: &'static str, params: &[(&str, &str)]) -> Call {
        let mut call = Call::rpc(action, version, &[]);
        call.body = pai_sign::encode_query(
            &params
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<Vec<_>>(),
        )
        .into_bytes();
        call.content_type = "application/x-www-form-urlencoded";
        call
    }

    pub fn with_key(mut self, id: &str, secret: &str, token: Option<&str>) -> Call {
        self.access_key_id = id.into();
        self.secret = secret.into();
        self.token = token.map(str::to_owned);
        self
    }

    /// Every header the SDK would send, `authorization` included, for a server at `host`.
    pub fn headers(&self, host: &str) -> Vec<(String, String)> {
        let mut h: Vec<(String, String)> = Vec::new();
        let mut add = |k: &str, v: &str| h.push((k.to_owned(), v.to_owned()));
        add("host", host);
        add("accept", "application/json");
        add("x-acs-version", self.version);
        add("x-acs-action", self.action);
        add("x-acs-signature-nonce", &self.nonce);
        if !self.body.is_empty() {
            add("content-type", self.content_type);
        }
        match self.algo {
            Algo::V3 => {
                add("x-acs-date", &pai_emulator::auth::iso_8601(self.date));
                add("x-acs-content-sha256", &pai_sign::v3::content_sha256(&self.body));
            }
            Algo::V2 => {
                add("date", &httpdate::fmt_http_date(self.date.into()));
                add("x-acs-signature-method", "HMAC-SHA1");
                add("x-acs-signature-version", "1.0");
            }
        }
        if let Some(token) = &self.token {
            add("x-acs-accesskey-id", &self.access_key_id);
            add("x-acs-security-token", token);
        }
        let request = pai_sign::Request {
            method: self.method,
            path: self.path,
            query: &self.query,
            headers: &h,
            body: &self.body,
        };
        let authorization = match self.algo {
            Algo::V3 => pai_sign::v3::authorization(&self.access_key_id, &self.secret, &request),
            Algo::V2 => pai_sign::v2::authorization(&self.access_key_id, &self.secret, &request),
        };
        h.push(("authorization".into(), authorization));
        h
    }

    pub fn path_and_query(&self) -> String {
        if self.query.is_empty() {
            self.path.to_owned()
        } else {
            format!("{}?{}", self.path, pai_sign::encode_query(&self.query))
        }
    }
}

/// What came back: the status, the `Code` (for errors) and the JSON body.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Answer {
    pub fn code(&self) -> &str {
        self.body["Code"].as_str().unwrap_or("")
    }
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
}

/// Send `call` with exactly `headers` (which may have been tampered with) and `body`.
pub async fn send_raw(addr: SocketAddr, call: &Call, headers: &[(String, String)], body: &[u8]) -> Answer {
    let url = format!("http://{addr}{}", call.path_and_query());
    let method = reqwest::Method::from_bytes(call.method.as_bytes()).unwrap();
    let mut req = client().request(method, url).body(body.to_vec());
    for (k, v) in headers {
        req = req.header(k.as_str(), v.as_str());
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let bytes = resp.bytes().await.unwrap();
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Answer { status, headers, body }
}

pub async fn send(addr: SocketAddr, call: &Call) -> Answer {
    let headers = call.headers(&addr.to_string());
    send_raw(addr, call, &headers, &call.body).await
}

/// Write one HTTP/1.1 request on a fresh TCP connection and read until the server closes it.
/// Returns every byte the server sent: empty when it closed without answering.
pub async fn raw_exchange(addr: SocketAddr, call: &Call, deadline: Duration) -> std::io::Result<Vec<u8>> {
    let mut stream = tokio::net::TcpStream::connect(addr).await?;
    let mut head = format!("{} {} HTTP/1.1\r\n", call.method, call.path_and_query());
    for (k, v) in call.headers(&addr.to_string()) {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str(&format!(
        "content-length: {}\r\nconnection: close\r\n\r\n",
        call.body.len()
    ));
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(&call.body).await?;
    let mut received = Vec::new();
    tokio::time::timeout(deadline, stream.read_to_end(&mut received))
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "no EOF before the deadline"))??;
    Ok(received)
}

pub async fn ledger_over_http(addr: SocketAddr) -> Value {
    client()
        .get(format!("http://{addr}/_emulator/ledger"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// The interpreter with the official SDK. Unset is a failure, never a silent pass.
pub fn sdk_python() -> PathBuf {
    match std::env::var_os("PAI_SDK_PYTHON") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => panic!(
            "PAI_SDK_PYTHON is not set: the SDK conformance tests need a Python with \
             alibabacloud-aiworkspace20210204 installed (scripts/test.sh sets one up; locally \
             PAI_SDK_PYTHON=/tmp/sdkvenv/bin/python)"
        ),
    }
}

fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sdk").join(name)
}

/// Run the conformance script and parse its JSON lines, one per SDK call.
pub async fn run_sdk(args: &[&str]) -> Vec<Value> {
    run_sdk_script("conformance.py", args).await
}

/// Run one of the scripts in tests/sdk/ and parse its JSON lines.
pub async fn run_sdk_script(name: &str, args: &[&str]) -> Vec<Value> {
    let python = sdk_python();
    let output = tokio::time::timeout(
        Duration::from_secs(120),
        tokio::process::Command::new(&python)
            .arg(script(name))
            .args(args)
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("the SDK script did not finish in 120 s")
    .unwrap_or_else(|e| panic!("cannot run {}: {e}", python.display()));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "{name} {args:?} failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
    stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}\n{stderr}")))
        .collect()
}

/// The line for the SDK call `name`.
pub fn result<'a>(lines: &'a [Value], name: &str) -> &'a Value {
    lines
        .iter()
        .find(|l| l["name"] == name)
        .unwrap_or_else(|| panic!("no result `{name}` in {lines:#?}"))
}
