//! The executor: carries out a [`Plan`] against the API, exactly once per product.
//!
//! The protocol is in `docs/idempotency.md`. In short: a durable `pending` intent before each
//! `CreateProductOrders`, the outcome recorded after it, and on any failure where the server may
//! have acted, `ListProducts` decides between recording the purchase and ordering again. A
//! request is never re-sent blindly. A refusal because a product is already open, and an answer
//! that does not show every product bought, are settled by `ListProducts` in the same way.
//!
//! - `region`: one region's order, from intent to record, including ambiguous outcomes, refusals
//!   as "already open", and answers that do not show every product bought.
//! - `outcome`: which product ids of an answered order belong to which product (pure).
//! - `report`: [`ApplyReport`], what a run did, as data (the CLI renders it).
//! - `settle`: the settle wait after an order in doubt, asking `ListProducts` meanwhile so that
//!   an order that lands early ends it early.
//! - `interrupted`: when orders a killed run left `pending` may be settled by `ListProducts`
//!   ([`unsettled`]), and [`await_interrupted`], which waits until they may.
//! - `run`: [`Executor::for_apply`] and [`Executor::finish`], an apply as one history run.
//! - `cancel`: [`Cancel`], set by the first Ctrl-C or SIGTERM: no new order is sent (it is
//!   checked before each intent and each send), the request in flight is answered and
//!   recorded, and waits end with their rows left `pending` for the next run.
//!
//! On a state that does not exist yet, the history run is begun only by the first write that
//! records something of a product ([`Executor::without_run`]): a run that sent nothing and
//! recorded nothing (refused credentials, say) creates no state, so a plan reviewed against
//! no state still applies afterwards.
//!
//! What a `ListProducts` answer means for a row is `pai_planner::reconcile`, the rule the diff
//! and `refresh` follow too. [`Executor::new`] refuses a settle time shorter than the client's
//! timeout, and [`Executor::apply`] refuses a plan whose order bodies are not what its changes
//! describe: the reviewed body is the one sent. It sends no order for a product the cloud
//! reports this account may not purchase (`HasPermissionToPurchase: false`, in the plan or in
//! the check before ordering): that product is reported [`ProductOutcome::NotPermitted`], the
//! region's others are ordered. An `AutoPay: false` order is recorded `unpaid`.
//!
//! State writes go through one [`StateWriter`] behind a mutex: regions run concurrently on the
//! runtime, each write is a short SQLite transaction, and the writer holds the state's lock.

mod cancel;
mod interrupted;
mod outcome;
mod region;
mod report;
mod run;
mod settle;

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use pai_planner::{reconcile, Action, Change, Plan, Record, Verdict, Word};
use pai_spec::{Address, OrderBody, Product, ProductCode, Region};
use pai_state::{ApiCall, CallOutcome, RunId, StateError, StateWriter};

use crate::client::{ApiError, Client, LIST_PRODUCTS};
use crate::status::observations;

pub use cancel::Cancel;
pub use interrupted::{await_interrupted, unsettled, Unsettled};

/// The RAM action `CreateProductOrders` needs (its API reference, "Authorization
/// information"); named to the user when the cloud reports a product may not be purchased.
pub const CREATE_ORDER_RAM_ACTION: &str = "pai:CreateOrder";
pub use report::{ApplyReport, ProductOutcome, RegionReport};

/// How hard the executor tries before it leaves a product for the next run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExecutorConfig {
    /// Orders sent for one product in one run, counting the first. A second is only ever sent
    /// after `ListProducts` reported the first one not purchased.
    pub max_order_attempts: u32,
    /// Ask `ListProducts` before ordering, even where the plan did not ask for it: a saved plan
    /// may be older than the cloud's truth. A plan made without a refresh is always checked.
    pub check_before_order: bool,
    /// How long after an order is sent the cloud may still carry it out (it may be queued on
    /// the way, or in the service). After an ambiguous failure a "purchased" is trusted at
    /// once; a "not purchased" only from a `ListProducts` asked at least this long after the
    /// last send, since an earlier one may predate the order's arrival.
    pub settle: Duration,
}

impl Default for ExecutorConfig {
    fn default() -> Self {
        ExecutorConfig {
            max_order_attempts: 3,
            check_before_order: false,
            settle: Duration::from_secs(60),
        }
    }
}

/// What the executor reports while it works; the CLI draws progress from it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Progress {
    /// Checking the cloud before ordering (a saved or unrefreshed plan, an interrupted order).
    Checking {
        region: Region,
    },
    Ordering {
        region: Region,
        products: Vec<ProductCode>,
        attempt: u32,
    },
    /// The outcome of an order is unknown; asking `ListProducts`.
    Resolving {
        region: Region,
    },
    /// `ListProducts` reports an order whose outcome is unknown not purchased, but the order may
    /// still be on its way: waiting up to `wait` (asking meanwhile, see `settle`) before the
    /// question that decides and, only then, ordering again.
    Settling {
        region: Region,
        wait: Duration,
    },
    Finished {
        region: Region,
        ok: bool,
        message: String,
    },
}

pub trait ProgressSink: Send + Sync {
    fn report(&self, event: Progress);
}

/// Discards progress.
pub struct Silent;

impl ProgressSink for Silent {
    fn report(&self, _event: Progress) {}
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExecError {
    #[error(transparent)]
    State(#[from] StateError),
    #[error("the plan has conflicts; nothing was done")]
    Conflicts,
    #[error("the plan refers to `{0}`, which it does not describe; plan again")]
    Inconsistent(String),
    /// Refused by [`Executor::new`]: a "not purchased" asked before an order the client gave up
    /// on could still arrive would lead to a second order.
    #[error(
        "the settle time {settle:?} is shorter than the client's timeout {timeout:?}: an order the client gave up \
         on could still arrive after ListProducts said \"not purchased\", and be bought twice"
    )]
    UnsafeSettle { settle: Duration, timeout: Duration },
    /// The plan's order body for a region is not what its changes describe: what was reviewed
    /// is not what would be sent.
    #[error("the plan's order body for {region} does not match its changes; nothing was done, plan again")]
    BodyMismatch { region: Region },
}

/// The history run the executor writes under.
#[derive(Debug)]
pub(crate) enum RunLog {
    Begun(RunId),
    /// The state does not exist yet: the run, with these calls, is begun by the first write
    /// that records something of a product.
    Deferred {
        command: String,
        calls: Vec<ApiCall>,
    },
}

/// Runs `f` under the run, beginning it first if it was deferred. Locks the writer, then the run.
pub(crate) fn write<T>(
    writer: &Mutex<StateWriter>,
    run: &Mutex<RunLog>,
    f: impl FnOnce(&mut StateWriter, RunId) -> Result<T, StateError>,
) -> Result<T, StateError> {
    let mut w = lock(writer);
    let mut log = run.lock().unwrap_or_else(|p| p.into_inner());
    let id = match &mut *log {
        RunLog::Begun(id) => *id,
        RunLog::Deferred { command, calls } => {
            let id = w.begin_run(command)?;
            for call in calls.iter() {
                w.record_api_call(id, call)?;
            }
            *log = RunLog::Begun(id);
            id
        }
    };
    drop(log);
    f(&mut w, id)
}

/// Appends `call` to the run's history; kept in memory while the run is deferred.
pub(crate) fn record_call(writer: &Mutex<StateWriter>, run: &Mutex<RunLog>, call: &ApiCall) -> Result<(), StateError> {
    let mut w = lock(writer);
    let mut log = run.lock().unwrap_or_else(|p| p.into_inner());
    match &mut *log {
        RunLog::Begun(id) => w.record_api_call(*id, call),
        RunLog::Deferred { calls, .. } => {
            calls.push(call.clone());
            Ok(())
        }
    }
}

/// What kind of [`ExecError`] this is, for callers that branch on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ExecErrorKind {
    /// The state could not be read or written; the run must stop.
    State,
    /// The plan cannot be carried out as it is; nothing was done.
    Plan,
    /// The executor's configuration is unsafe; nothing was done.
    Config,
}

impl ExecError {
    pub fn kind(&self) -> ExecErrorKind {
        match self {
            ExecError::State(_) => ExecErrorKind::State,
            ExecError::Conflicts | ExecError::Inconsistent(_) | ExecError::BodyMismatch { .. } => ExecErrorKind::Plan,
            ExecError::UnsafeSettle { .. } => ExecErrorKind::Config,
        }
    }
}

/// Carries out plans with one client and one locked state.
pub struct Executor {
    client: Client,
    writer: Arc<Mutex<StateWriter>>,
    run: Arc<Mutex<RunLog>>,
    config: ExecutorConfig,
    progress: Arc<dyn ProgressSink>,
    cancel: Cancel,
}

impl Executor {
    /// Refuses a settle time shorter than the client's read timeout (`docs/idempotency.md`):
    /// the exactly-once argument needs it, so it is checked here and not only by the CLI.
    pub fn new(
        client: Client,
        writer: Arc<Mutex<StateWriter>>,
        run: RunId,
        config: ExecutorConfig,
        progress: Arc<dyn ProgressSink>,
    ) -> Result<Self, ExecError> {
        Executor::build(client, writer, RunLog::Begun(run), config, progress)
    }

    /// [`Executor::new`] for a state that does not exist yet: the history run of `command`
    /// (with `calls`, the refresh's) is begun by the first write that records something of a
    /// product, so that a run that recorded nothing leaves no state behind. [`Executor::run_id`]
    /// says whether it was begun.
    pub fn without_run(
        client: Client,
        writer: Arc<Mutex<StateWriter>>,
        command: &str,
        calls: Vec<ApiCall>,
        config: ExecutorConfig,
        progress: Arc<dyn ProgressSink>,
    ) -> Result<Self, ExecError> {
        let run = RunLog::Deferred {
            command: command.to_owned(),
            calls,
        };
        Executor::build(client, writer, run, config, progress)
    }

    /// Stops sending new orders once `cancel` is set ([`Cancel`]).
    pub fn with_cancel(mut self, cancel: Cancel) -> Self {
        self.cancel = cancel;
        self
    }

    /// The history run written under; `None` while a deferred one was not needed.
    pub fn run_id(&self) -> Option<RunId> {
        match &*self.run.lock().unwrap_or_else(|p| p.into_inner()) {
            RunLog::Begun(id) => Some(*id),
            RunLog::Deferred { .. } => None,
        }
    }

    fn build(
        client: Client,
        writer: Arc<Mutex<StateWriter>>,
        run: RunLog,
        config: ExecutorConfig,
        progress: Arc<dyn ProgressSink>,
    ) -> Result<Self, ExecError> {
        check_settle(&client, &config)?;
        Ok(Executor {
            client,
            writer,
            run: Arc::new(Mutex::new(run)),
            config,
            progress,
            cancel: Cancel::new(),
        })
    }

    /// Everything the plan says, in this order: renames, forgets, adoptions, then the orders of
    /// all regions concurrently. Errors of single products are in the report; `Err` means the
    /// state itself could not be written, and the run must stop.
    pub async fn apply(&self, plan: &Plan) -> Result<ApplyReport, ExecError> {
        if plan.has_conflicts() {
            return Err(ExecError::Conflicts);
        }
        // Every region's job before anything is written: a plan refused here changes nothing.
        let mut jobs = Vec::new();
        let mut not_permitted = Vec::new();
        for order in &plan.orders {
            let mut products = Vec::new();
            // An unrefreshed plan may be older than the cloud's truth whoever applies it.
            let mut check_first = self.config.check_before_order || !plan.refreshed;
            for address in &order.addresses {
                let change = plan
                    .change(address)
                    .ok_or_else(|| ExecError::Inconsistent(address.to_string()))?;
                check_first |= change.resolve_first;
                products.push(product_of(change)?);
            }
            // The reviewed body is what is sent: refuse a plan whose body says otherwise.
            let body = OrderBody {
                auto_pay: order.body.auto_pay,
                products: products.iter().map(|p| p.request.clone()).collect(),
            };
            if body != order.body {
                return Err(ExecError::BodyMismatch {
                    region: order.region.clone(),
                });
            }
            // An order the cloud already said this account may not place would only be refused
            // (or, worse, half-placed): send none for those products, order the others.
            let (refused, products): (Vec<Product>, Vec<Product>) = products
                .into_iter()
                .partition(|p| plan.change(&p.address).is_some_and(Change::may_not_purchase));
            let mut refused_report = RegionReport::new(order.region.clone());
            for p in &refused {
                refused_report.set(
                    &p.address,
                    ProductOutcome::NotPermitted {
                        action: CREATE_ORDER_RAM_ACTION.to_owned(),
                    },
                );
            }
            if !refused.is_empty() {
                not_permitted.push(refused_report);
            }
            if !products.is_empty() {
                jobs.push(region::RegionJob {
                    region: order.region.clone(),
                    auto_pay: order.body.auto_pay,
                    products,
                    check_first,
                });
            }
        }
        let mut report = ApplyReport::default();
        for change in plan.changes.iter().filter(|c| c.action.is_change()) {
            if let Some(from) = &change.moved_from {
                write(&self.writer, &self.run, |w, run| {
                    w.move_resource(run, from, &change.address)
                })?;
                report.moved.push((from.clone(), change.address.clone()));
            }
        }
        for change in &plan.changes {
            match change.action {
                Action::Forget => {
                    write(&self.writer, &self.run, |w, run| w.remove(run, &change.address))?;
                    report.forgotten.push(change.address.clone());
                }
                Action::Adopt => {
                    let product = product_of(change)?;
                    let product_id = change.observed.as_ref().and_then(|o| o.product_id.as_deref());
                    // An adopt is planned on the cloud's "purchased", or for a rename of a
                    // recorded row; the move above already took the record to this address.
                    let recorded = change.before.as_ref().map(|b| b.status);
                    write(&self.writer, &self.run, |writer, run| {
                        match reconcile(recorded.map(Record::settled), false, Word::Purchased) {
                            Verdict::Resolve => writer.mark_resolved(run, &change.address, product_id),
                            _ => writer.mark_adopted(run, &product, product_id),
                        }
                    })?;
                    report.adopted.push(change.address.clone());
                }
                // A reorder after drift that the cloud now reports purchased has shown: a
                // later drift of it may be reordered again (`pai_planner::Window`).
                Action::Noop if change.reorder_shown() => {
                    write(&self.writer, &self.run, |w, run| w.mark_seen(run, &change.address))?
                }
                _ => {}
            }
        }

        let mut tasks = tokio::task::JoinSet::new();
        for job in jobs {
            let ctx = region::Context {
                client: self.client.clone(),
                writer: Arc::clone(&self.writer),
                run: Arc::clone(&self.run),
                config: self.config,
                progress: Arc::clone(&self.progress),
                cancel: self.cancel.clone(),
            };
            // In the caller's span: a fleet's account names what its regions log.
            tasks.spawn(tracing::Instrument::in_current_span(async move { ctx.run(job).await }));
        }
        while let Some(joined) = tasks.join_next().await {
            match joined {
                Ok(Ok(region_report)) => report.regions.push(region_report),
                Ok(Err(e)) => return Err(e),
                Err(e) => return Err(ExecError::Inconsistent(format!("a region task failed: {e}"))),
            }
        }
        for refused in not_permitted {
            match report.regions.iter_mut().find(|r| r.region == refused.region) {
                Some(region) => region.products.extend(refused.products),
                None => report.regions.push(refused),
            }
        }
        report.regions.sort_by(|a, b| a.region.cmp(&b.region));
        Ok(report)
    }
}

/// The manifest's product for an `order`, `reorder` or `adopt` change, rebuilt from the plan so
/// that a saved plan is applied exactly as reviewed.
fn product_of(change: &Change) -> Result<Product, ExecError> {
    let after = change
        .after
        .as_ref()
        .ok_or_else(|| ExecError::Inconsistent(change.address.to_string()))?;
    Ok(Product {
        address: change.address.clone(),
        region: after.region.clone(),
        request: after.request.clone(),
    })
}

/// The writer, even if another region's task panicked while holding it: every write is one
/// SQLite transaction, so a poisoned mutex guards a consistent database.
fn lock(writer: &Mutex<StateWriter>) -> MutexGuard<'_, StateWriter> {
    writer.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The history entry of one API call about `products`.
fn api_call(
    region: &Region,
    action: &str,
    products: &[Product],
    started: Instant,
    result: Result<(Option<String>, Option<String>), &ApiError>,
) -> ApiCall {
    let addresses = products.iter().map(|p| p.address.clone()).collect();
    history_entry(region, action, addresses, started.elapsed(), result)
}

/// The settle time may not be shorter than the client's timeout (`docs/idempotency.md`).
fn check_settle(client: &Client, config: &ExecutorConfig) -> Result<(), ExecError> {
    let timeout = client.config().read_timeout;
    if config.settle < timeout {
        return Err(ExecError::UnsafeSettle {
            settle: config.settle,
            timeout,
        });
    }
    Ok(())
}

/// The history entry of one API call: `Ok((RequestId, OrderId))` or the error. Never any
/// secret: the error's `Display` holds none.
pub fn history_entry(
    region: &Region,
    action: &str,
    addresses: Vec<Address>,
    duration: Duration,
    result: Result<(Option<String>, Option<String>), &ApiError>,
) -> ApiCall {
    match result {
        Ok((request_id, order_id)) => ApiCall {
            region: region.clone(),
            action: action.to_owned(),
            addresses,
            outcome: CallOutcome::Ok,
            http_status: Some(200),
            code: None,
            message: None,
            request_id,
            order_id,
            duration,
        },
        Err(e) => ApiCall {
            region: region.clone(),
            action: action.to_owned(),
            addresses,
            outcome: if e.is_ambiguous() {
                CallOutcome::Ambiguous
            } else if e.is_retry_safe() {
                CallOutcome::Retryable
            } else {
                CallOutcome::Rejected
            },
            http_status: e.http_status,
            code: e.code.clone(),
            message: Some(e.message.clone()),
            request_id: e.request_id.clone(),
            order_id: None,
            duration,
        },
    }
}

/// What `ListProducts` says of one product: its word and, when purchased, its `ProductId`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Answer {
    /// When the question was asked: a row's settle window is judged against it.
    asked_at: time::OffsetDateTime,
    word: Word,
    product_id: Option<String>,
    /// `HasPermissionToPurchase`, when reported.
    may_purchase: Option<bool>,
}

impl Answer {
    /// Not bought, and the cloud says this account may not buy it: an order would only be refused.
    fn not_permitted(&self) -> bool {
        self.word != Word::Purchased && self.may_purchase == Some(false)
    }
}

/// Why a question to the cloud had no answer: the run was interrupted while it was asked.
pub(crate) const INTERRUPTED: &str = "interrupted (Ctrl-C or SIGTERM) before ListProducts answered";

/// The cloud's answer on each of `products`, in their order; `Err` when it could not be asked,
/// or the run was interrupted meanwhile (a question may be dropped midway, an order never).
async fn ask_cloud(
    client: &Client,
    writer: &Mutex<StateWriter>,
    run: &Mutex<RunLog>,
    cancel: &Cancel,
    region: &Region,
    products: &[Product],
) -> Result<Result<Vec<Answer>, ApiError>, StateError> {
    let codes: Vec<ProductCode> = products.iter().map(Product::code).collect();
    let started = Instant::now();
    let asked_at = pai_state::clock::now_utc();
    let Some(answer) = cancel.or_cancelled(client.list_products(region, &codes)).await else {
        let interrupted = ApiError::new(
            crate::client::ErrorKind::Permanent,
            crate::client::Failure::Request,
            LIST_PRODUCTS,
            INTERRUPTED.to_owned(),
        );
        return Ok(Err(interrupted));
    };
    let call = match &answer {
        Ok(r) => api_call(
            region,
            LIST_PRODUCTS,
            products,
            started,
            Ok((r.request_id.clone(), None)),
        ),
        Err(e) => api_call(region, LIST_PRODUCTS, products, started, Err(e)),
    };
    record_call(writer, run, &call)?;
    Ok(answer.map(|response| {
        let seen = observations(&codes, &response);
        products
            .iter()
            .map(|p| {
                let observed = seen.iter().find(|(code, _)| *code == p.code()).map(|(_, o)| o);
                Answer {
                    asked_at,
                    word: Word::of(observed),
                    product_id: observed.and_then(|o| o.product_id.clone()),
                    may_purchase: observed.and_then(|o| o.has_permission),
                }
            })
            .collect()
    }))
}
