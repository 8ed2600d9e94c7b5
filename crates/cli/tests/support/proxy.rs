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
                    pump(client_read, server_write, wire.to_server, hold_orders),
                    pump(server_read, client_write, wire.to_client, None)
                );
            });
        }
    });
    addr
}

async fn pump(
    mut from: OwnedReadHalf,
    mut to: OwnedWriteHalf,
    record: Arc<Mutex<Vec<u8>>>,
    hold_orders: Option<Duration>,
) -> OwnedWriteHalf {
    let mut buf = [0u8; 8192];
    while let Ok(n) = from.read(&mut buf).await {
        if n == 0 {
            if hold_orders.is_none() {
                let _ = to.shutdown().await;
            }
            break;
        }
        let chunk = &buf[..n];
        record
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(chunk);
        if let Some(hold) = hold_orders {
            if chunk.starts_with(b"POST /api/v1/productorders") {
                tokio::time::sleep(hold).await;
            }
        }
        if to.write_all(chunk).await.is_err() {
            break;
        }
    }
    to
}
