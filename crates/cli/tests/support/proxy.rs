//! A recording TCP proxy on loopback, which can also play a slow gateway for orders.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use pai_sign::wire;
use pai_spec::Region;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

/// Bytes seen on one loopback hop, both ways, and the orders the proxy has begun to hold.
#[derive(Clone, Default)]
pub struct Wire {
    pub to_server: Arc<Mutex<Vec<u8>>>,
    pub to_client: Arc<Mutex<Vec<u8>>>,
    held: Arc<(Mutex<usize>, Condvar)>,
}

impl Wire {
    pub fn text(buffer: &Mutex<Vec<u8>>) -> String {
        String::from_utf8_lossy(&buffer.lock().unwrap_or_else(|p| p.into_inner())).into_owned()
    }

    /// How many `CreateProductOrders` requests the proxy has begun to hold.
    pub fn held_orders(&self) -> usize {
        *self.held.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Block until the proxy is holding an order (true), or `gave_up` says waiting is pointless,
    /// e.g. because the client has exited (false). A test that must act while an order is on its
    /// way waits here rather than guessing how long the order takes to get there.
    pub fn wait_for_held_order(&self, mut gave_up: impl FnMut() -> bool) -> bool {
        let (count, arrived) = &*self.held;
        let mut held = count.lock().unwrap_or_else(|p| p.into_inner());
        while *held == 0 {
            if gave_up() {
                return false;
            }
            // Woken by the proxy; the timeout only lets `gave_up` be asked again.
            held = arrived
                .wait_timeout(held, Duration::from_millis(20))
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        true
    }

    fn note_held_order(&self) {
        let (count, arrived) = &*self.held;
        *count.lock().unwrap_or_else(|p| p.into_inner()) += 1;
        arrived.notify_all();
    }
}

/// The emulator's `endpoints`, each behind its own [`proxy`] recording into `wire`: a
/// gateway in front of every region, for a manifest to point at.
pub fn gateway(
    handle: &tokio::runtime::Handle,
    endpoints: &BTreeMap<Region, String>,
    wire: &Wire,
    hold_orders: Option<Duration>,
    hold_answers: Option<Duration>,
) -> BTreeMap<Region, String> {
    endpoints
        .iter()
        .map(|(region, url)| {
            let upstream = url
                .trim_start_matches("http://")
                .parse()
                .expect("the emulator's address");
            let proxy = proxy(handle, upstream, wire, hold_orders, hold_answers);
            (region.clone(), format!("http://{proxy}"))
        })
        .collect()
}

/// A TCP proxy on 127.0.0.1:0 to `upstream` that records everything it forwards into `wire`.
///
/// With `hold_orders`, it plays a slow network path for orders: a `CreateProductOrders`
/// request is held that long before it is passed on, and it is passed on even if the client
/// has gone meanwhile, as a real gateway that has received a request still carries it out.
/// Each held order is counted in `wire` as its hold begins ([`Wire::wait_for_held_order`]).
/// With `hold_answers`, it also holds every answer (each chunk that starts a response) that
/// long on its way back: a slow return path, on which an answer arrives later than it was given.
pub fn proxy(
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
                    pump(client_read, server_write, &wire, Hold::Orders(hold_orders)),
                    pump(server_read, client_write, &wire, Hold::Answers(hold_answers))
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

async fn pump(mut from: OwnedReadHalf, mut to: OwnedWriteHalf, wire: &Wire, hold: Hold) -> OwnedWriteHalf {
    let record = match hold {
        Hold::Orders(_) => &wire.to_server,
        Hold::Answers(_) => &wire.to_client,
    };
    let order = wire::CREATE_PRODUCT_ORDERS;
    // How an order's request starts on the wire.
    let order_line = format!("{} {} ", order.method, order.path);
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
            Hold::Orders(Some(d)) if chunk.starts_with(order_line.as_bytes()) => {
                wire.note_held_order();
                Some(d)
            }
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
