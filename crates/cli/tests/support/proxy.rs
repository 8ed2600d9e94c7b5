//! A recording TCP proxy on loopback, which can also play a slow gateway for orders.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

/// Bytes seen on one loopback hop, both ways.
#[derive(Clone, Default)]
pub struct Wire {
    pub to_server: Arc<Mutex<Vec<u8>>>,
    pub to_client: Arc<Mutex<Vec<u8>>>,
}

impl Wire {
    pub fn text(buffer: &Mutex<Vec<u8>>) -> String {
        String::from_utf8_lossy(&buffer.lock().unwrap_or_else(|p| p.into_inner())).into_owned()
    }
}

/// A TCP proxy on 127.0.0.1:0 to `upstream` that records everything it forwards into `wire`.
///
/// With `hold_orders`, it plays a slow network path for orders: a `CreateProductOrders`
/// request is held that long before it is passed on, and it is passed on even if the client
/// has gone meanwhile, as a real gateway that has received a request still carries it out.
pub fn proxy(
    handle: &tokio::runtime::Handle,
    upstream: SocketAddr,
    wire: &Wire,
    hold_orders: Option<Duration>,
) -> SocketAddr {
    proxy_holding(handle, upstream, wire, hold_orders, None)
}

/// [`proxy`], which also holds every answer (each chunk that starts a response) for
/// `hold_answers` on its way back: a slow return path, on which an answer arrives later than
/// it was given.
pub fn proxy_holding(
    handle: &tokio::runtime::Handle,
    upstream: SocketAddr,
    wire: &Wire,
    hold_orders: Option<Duration>,
    hold_answers: Option<Duration>,
) -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind the proxy");
    listener.set_nonblocking(true).expect("non-blocking");
    let addr = listener.local_addr().expect("proxy address");
    let wire = wire.clone();
    handle.spawn(async move {
        let listener = tokio::net::TcpListener::from_std(listener).expect("a Tokio listener");
        while let Ok((client, _)) = listener.accept().await {
            let wire = wire.clone();
            tokio::spawn(async move {
                let Ok(server) = tokio::net::TcpStream::connect(upstream).await else {
                    return;
                };
                let (client_read, client_write) = client.into_split();
                let (server_read, server_write) = server.into_split();
                // The halves come back so that a client's hang-up is not passed on to the
                // server before the server has answered.
                let _halves = tokio::join!(
                    pump(client_read, server_write, wire.to_server, Hold::Orders(hold_orders)),
                    pump(server_read, client_write, wire.to_client, Hold::Answers(hold_answers))
                );
            });
        }
    });
    addr
}

/// What one direction of the proxy holds back, and for how long.
#[derive(Clone, Copy)]
enum Hold {
    /// Client to server: `CreateProductOrders` requests.
    Orders(Option<Duration>),
    /// Server to client: the start of every response.
    Answers(Option<Duration>),
}

async fn pump(
    mut from: OwnedReadHalf,
    mut to: OwnedWriteHalf,
    record: Arc<Mutex<Vec<u8>>>,
    hold: Hold,
) -> OwnedWriteHalf {
    let mut buf = [0u8; 8192];
    while let Ok(n) = from.read(&mut buf).await {
        if n == 0 {
            // A gateway that holds orders carries them out even after the client has gone.
            if !matches!(hold, Hold::Orders(Some(_))) {
                let _ = to.shutdown().await;
            }
            break;
        }
        let chunk = &buf[..n];
        record
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(chunk);
        let delay = match hold {
            Hold::Orders(Some(d)) if chunk.starts_with(b"POST /api/v1/productorders") => Some(d),
            Hold::Answers(Some(d)) if chunk.starts_with(b"HTTP/1.1 ") => Some(d),
            _ => None,
        };
        if let Some(d) = delay {
            tokio::time::sleep(d).await;
        }
        if to.write_all(chunk).await.is_err() {
            break;
        }
    }
    to
}
