//! What a campaign counts: per scenario, from the state's history (which survives kills) and the
//! ledger; and across the campaign, the faults its emulators injected, from their log events.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use tracing::Dispatch;

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
    /// Orders the service refused as a repeat (`ORDER.OPEND`, realism `repeat=order_opend`): with
    /// the kind emulator each would have been billed again, so this is how often the service,
    /// not the executor, stood between an apply and a second purchase.
    pub repeats_refused: u64,
    /// Of those, orders of an account-wide OSS already bought in another region
    /// (`oss_account_wide`): the manifest declares OSS in two regions, and the tool orders it in both.
    pub refused_elsewhere: u64,
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
        self.repeats_refused += o.repeats_refused;
        self.refused_elsewhere += o.refused_elsewhere;
    }
}

impl fmt::Display for Tally {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "runs {} ({} multi-region), applies {} (killed {}, of them mid-order {}; incomplete {}; of saved \
             plans {}), fault-free last runs {}; faults seen by apply: order 5xx {}, order connection dropped {}, \
             order timed out {}, ListProducts failed {}; resolved by observation {}, responses lost {}; orders {} \
             for {} products, duplicates {}; orders refused as a repeat {} (of them OSS bought in another \
             region {})",
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
            self.duplicates,
            self.repeats_refused,
            self.refused_elsewhere
        )
    }
}

/// What the applies met, from the state's history (which survives kills).
pub fn history_counts(work: &Workdir, tally: &mut Tally) -> Result<(), String> {
    let history = Store::open_read_only(&work.state)
        .and_then(|s| s.history(None))
        .map_err(|e| format!("cannot read the history: {e}"))?;
    count_history(&history, tally);
    Ok(())
}

/// [`history_counts`] of one state's history, wherever it was read (the fleet campaign reads
/// one per account).
pub fn count_history(history: &pai_state::History, tally: &mut Tally) {
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
}

/// The faults one campaign's emulators injected, counted from their log events. Slow answers
/// are not logged by the emulator; the applies' timeouts count them instead.
pub struct ServerFaults {
    pub throttled: u64,
    pub internal_errors: u64,
    pub dropped: u64,
}

impl fmt::Display for ServerFaults {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} throttled, {} InternalError, {} connections dropped after commit",
            self.throttled, self.internal_errors, self.dropped
        )
    }
}

/// One campaign's tally of [`ServerFaults`]. Each campaign has its own: the two campaigns of the
/// test binary run at once, and each asserts on what its own emulators did.
#[derive(Default)]
pub struct FaultCounter {
    throttled: AtomicU64,
    internal_errors: AtomicU64,
    dropped: AtomicU64,
}

impl FaultCounter {
    pub fn snapshot(&self) -> ServerFaults {
        ServerFaults {
            throttled: self.throttled.load(Ordering::SeqCst),
            internal_errors: self.internal_errors.load(Ordering::SeqCst),
            dropped: self.dropped.load(Ordering::SeqCst),
        }
    }
}

/// Where a campaign's emulator events go: a dispatcher of its own, made the default of every
/// thread that runs its emulators (its runtime's, see [`runtime_counting_into`]) and of its
/// scenario threads, so no process-wide subscriber mixes two campaigns' counts.
pub fn dispatch_into(counter: &Arc<FaultCounter>) -> Dispatch {
    use tracing_subscriber::layer::SubscriberExt;
    Dispatch::new(tracing_subscriber::registry().with(Counting(Arc::clone(counter))))
}

/// A runtime for one campaign's emulators and gateways, whose threads report to `dispatch`.
pub fn runtime_counting_into(dispatch: &Dispatch) -> tokio::runtime::Runtime {
    let dispatch = dispatch.clone();
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .on_thread_start(move || {
            // For the thread's whole life: the guard would only restore the previous default.
            std::mem::forget(tracing::dispatcher::set_default(&dispatch));
        })
        .build()
        .unwrap_or_else(|e| panic!("a Tokio runtime: {e}"))
}

struct Counting(Arc<FaultCounter>);

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Counting {
    fn on_event(&self, event: &tracing::Event<'_>, _ctx: tracing_subscriber::layer::Context<'_, S>) {
        if !event.metadata().target().starts_with("pai_emulator") {
            return;
        }
        let mut fields = Fields::default();
        event.record(&mut fields);
        let counter = match (fields.message.as_str(), fields.code.as_str()) {
            ("refused", code) if code.starts_with("Throttling") => &self.0.throttled,
            ("refused", "InternalError") => &self.0.internal_errors,
            (message, _) if message.starts_with("connection closed after commit") => &self.0.dropped,
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
