//! What a campaign counts: per scenario, from the state's history (which survives kills); and
//! across the campaign, the faults the emulators injected, from their log events.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

use pai_state::EventKind;
use pai_state::Store;

use crate::support::Workdir;

/// What one scenario did and saw.
#[derive(Debug, Default, Clone)]
pub struct Tally {
    pub runs: u64,
    pub multi_region: u64,
    pub applies: u64,
    pub kills: u64,
    /// Kills that left an order without its answer: its intent written, its request sent or
    /// about to be.
    pub killed_mid_order: u64,
    /// Applies that ended with exit 1 (not killed).
    pub incomplete: u64,
    /// Scenarios that needed the fault-free last run.
    pub fault_free: u64,
    /// Chaos rounds that applied a saved plan.
    pub saved_plans: u64,
    /// Ambiguous `CreateProductOrders` outcomes, by cause, as the state's history records them.
    pub errors_5xx: u64,
    pub dropped: u64,
    pub timeouts: u64,
    /// `ListProducts` calls that failed after the client's retries.
    pub list_failures: u64,
    /// Rows settled by observation (an order whose response was lost or whose apply was killed).
    pub resolved: u64,
    /// Orders the ledger holds that no state row records: their response never arrived.
    pub lost: u64,
    pub orders: u64,
    pub products: u64,
    pub duplicates: u64,
}

impl Tally {
    pub fn add(&mut self, o: &Tally) {
        self.runs += o.runs;
        self.multi_region += o.multi_region;
        self.applies += o.applies;
        self.kills += o.kills;
        self.killed_mid_order += o.killed_mid_order;
        self.incomplete += o.incomplete;
        self.fault_free += o.fault_free;
        self.saved_plans += o.saved_plans;
        self.errors_5xx += o.errors_5xx;
        self.dropped += o.dropped;
        self.timeouts += o.timeouts;
        self.list_failures += o.list_failures;
        self.resolved += o.resolved;
        self.lost += o.lost;
        self.orders += o.orders;
        self.products += o.products;
        self.duplicates += o.duplicates;
    }
}

impl fmt::Display for Tally {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "runs {} ({} multi-region), applies {} (killed {}, of them mid-order {}; incomplete {}; of saved \
             plans {}), fault-free last runs {}; faults seen by apply: order 5xx {}, order connection dropped {}, \
             order timed out {}, ListProducts failed {}; resolved by observation {}, responses lost {}; orders {} \
             for {} products, duplicates {}",
            self.runs,
            self.multi_region,
            self.applies,
            self.kills,
            self.killed_mid_order,
            self.incomplete,
            self.saved_plans,
            self.fault_free,
            self.errors_5xx,
            self.dropped,
            self.timeouts,
            self.list_failures,
            self.resolved,
            self.lost,
            self.orders,
            self.products,
            self.duplicates
        )
    }
}

/// What the applies met, from the state's history (which survives kills).
pub fn history_counts(work: &Workdir, tally: &mut Tally) -> Result<(), String> {
    let history = Store::open_read_only(&work.state)
        .and_then(|s| s.history(None))
        .map_err(|e| format!("cannot read the history: {e}"))?;
    // A killed run never closed its record. It died with an order in flight when its last
    // word on some order is the intent: no answer, no failure recorded after it.
    for run in history.runs.iter().filter(|r| r.ended_at.is_none()) {
        let events: Vec<_> = history.events.iter().filter(|e| e.run_id == run.id).collect();
        let last_intent = events
            .iter()
            .rposition(|e| e.kind == EventKind::State && e.action == "pending");
        if let Some(at) = last_intent {
            let answered = events[at..]
                .iter()
                .any(|e| e.kind == EventKind::Api && e.action == "CreateProductOrders");
            if !answered {
                tally.killed_mid_order += 1;
            }
        }
    }
    for event in &history.events {
        let outcome = event.outcome.as_deref().unwrap_or("");
        match (event.kind, event.action.as_str(), outcome) {
            (EventKind::Api, "CreateProductOrders", "ambiguous") => {
                let message = event.message.as_deref().unwrap_or("");
                if event.http_status.is_some_and(|s| s >= 500) {
                    tally.errors_5xx += 1;
                } else if message.contains("no complete response in time") {
                    tally.timeouts += 1;
                } else {
                    tally.dropped += 1;
                }
            }
            (EventKind::Api, "ListProducts", o) if o != "ok" => tally.list_failures += 1,
            (EventKind::State, "resolved", _) => tally.resolved += 1,
            _ => {}
        }
    }
    Ok(())
}

/// The faults the emulators injected, counted from their log events. Slow answers are not
/// logged by the emulator; the applies' timeouts count them instead.
pub struct ServerFaults {
    pub throttled: u64,
    pub internal_errors: u64,
    pub dropped: u64,
    /// Orders refused as a repeat (`ORDER.OPEND`, realism `repeat=order_opend`): with the kind
    /// emulator each would have been billed again, so this is how often the service, not the
    /// executor, stood between an apply and a second purchase.
    pub repeats_refused: u64,
}

static THROTTLED: AtomicU64 = AtomicU64::new(0);
static INTERNAL_ERRORS: AtomicU64 = AtomicU64::new(0);
static DROPPED: AtomicU64 = AtomicU64::new(0);
static REPEATS_REFUSED: AtomicU64 = AtomicU64::new(0);

impl ServerFaults {
    pub fn snapshot() -> ServerFaults {
        ServerFaults {
            throttled: THROTTLED.load(Ordering::SeqCst),
            internal_errors: INTERNAL_ERRORS.load(Ordering::SeqCst),
            dropped: DROPPED.load(Ordering::SeqCst),
            repeats_refused: REPEATS_REFUSED.load(Ordering::SeqCst),
        }
    }
}

impl fmt::Display for ServerFaults {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} throttled, {} InternalError, {} connections dropped after commit, {} orders refused as a repeat",
            self.throttled, self.internal_errors, self.dropped, self.repeats_refused
        )
    }
}

/// Installs the counter once: both campaigns of the test binary call it.
pub fn count_server_faults() {
    static INSTALL: std::sync::Once = std::sync::Once::new();
    INSTALL.call_once(|| {
        use tracing_subscriber::layer::SubscriberExt;
        let subscriber = tracing_subscriber::registry().with(FaultCounter);
        tracing::subscriber::set_global_default(subscriber).expect("the only subscriber of this test binary");
    });
}

struct FaultCounter;

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for FaultCounter {
    fn on_event(&self, event: &tracing::Event<'_>, _ctx: tracing_subscriber::layer::Context<'_, S>) {
        if !event.metadata().target().starts_with("pai_emulator") {
            return;
        }
        let mut fields = Fields::default();
        event.record(&mut fields);
        let counter = match (fields.message.as_str(), fields.code.as_str()) {
            ("refused", code) if code.starts_with("Throttling") => &THROTTLED,
            ("refused", "InternalError") => &INTERNAL_ERRORS,
            ("refused", "ORDER.OPEND") => &REPEATS_REFUSED,
            (message, _) if message.starts_with("connection closed after commit") => &DROPPED,
            _ => return,
        };
        counter.fetch_add(1, Ordering::SeqCst);
    }
}

#[derive(Default)]
struct Fields {
    message: String,
    code: String,
}

impl tracing::field::Visit for Fields {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn fmt::Debug) {
        match field.name() {
            "message" => self.message = format!("{value:?}"),
            "code" => self.code = format!("{value:?}"),
            _ => {}
        }
    }
}
