//! One region's order: check, intent, send once, record; and the resolution of an unknown
//! outcome, of a refusal as "already open", and of an answer that does not show every product.

use std::fmt;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use pai_planner::{reconcile, Record, Verdict, Word};
use pai_spec::{Address, OrderBody, Product, Region};
use pai_state::{ApiCall, Attempt, OrderOutcome, RunId, StateError, StateWriter};

use super::outcome::own_product_ids;
use super::report::{ProductOutcome, RegionReport};
use super::{
    api_call, ask_cloud, record_call, write, Answer, Cancel, ExecError, ExecutorConfig, Progress, ProgressSink, RunLog,
};
use crate::client::{ApiError, Client, OrderError, OrderRefusal, OrderResponse, CREATE_PRODUCT_ORDERS};

/// Why products are asked about, which decides what a "purchased" reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Found {
    /// Asked before ordering: bought before this run, recorded.
    AlreadyPurchased,
    /// The order was refused as a repeat: bought before this run, recorded.
    AlreadyOpen,
    /// This run sent the order and lost its answer: bought by this run.
    AnswerLost,
}

impl Found {
    fn why(self) -> &'static str {
        match self {
            Found::AlreadyPurchased => "already purchased",
            Found::AlreadyOpen => "already open: the order was refused as a repeat, and the cloud reports it purchased",
            Found::AnswerLost => "purchased, response lost",
        }
    }

    /// What a product reported purchased ends as.
    fn outcome(self) -> ProductOutcome {
        match self {
            Found::AnswerLost => ProductOutcome::Ordered {
                order_id: None,
                request_id: None,
                answer_lost: true,
            },
            other => ProductOutcome::Recorded {
                why: other.why().to_owned(),
            },
        }
    }
}

/// What `ListProducts` settled of some products: those it reports not purchased (to order
/// again), and how many it reported purchased (recorded).
pub(super) struct Resolution {
    pub again: Vec<Product>,
    pub recorded: usize,
}

pub(super) struct RegionJob {
    pub region: Region,
    pub auto_pay: bool,
    pub products: Vec<Product>,
    /// Ask `ListProducts` before the first order.
    pub check_first: bool,
}

pub(super) struct Context {
    pub client: Client,
    pub writer: Arc<Mutex<StateWriter>>,
    pub run: Arc<Mutex<RunLog>>,
    pub config: ExecutorConfig,
    pub progress: Arc<dyn ProgressSink>,
    pub cancel: Cancel,
}

/// Why the send hook stopped an order before it left.
enum Held {
    State(StateError),
    /// The run was interrupted: no new order is sent.
    Cancelled,
}

/// What a product not ordered because of an interruption says.
const NOT_SENT_INTERRUPTED: &str = "interrupted (Ctrl-C or SIGTERM) before its order was sent; the next run orders it";

impl Context {
    /// A state write under the run (begun by it if it was deferred).
    pub(super) fn write<T>(
        &self,
        f: impl FnOnce(&mut StateWriter, RunId) -> Result<T, StateError>,
    ) -> Result<T, StateError> {
        write(&self.writer, &self.run, f)
    }

    pub(super) fn record_call(&self, call: &ApiCall) -> Result<(), StateError> {
        record_call(&self.writer, &self.run, call)
    }

    /// `ListProducts` about `products` ([`ask_cloud`]), recorded in the run's history.
    pub(super) async fn ask(
        &self,
        region: &Region,
        products: &[Product],
    ) -> Result<Result<Vec<Answer>, ApiError>, StateError> {
        ask_cloud(&self.client, &self.writer, &self.run, &self.cancel, region, products).await
    }

    pub async fn run(self, job: RegionJob) -> Result<RegionReport, ExecError> {
        let region = job.region.clone();
        let mut report = RegionReport::new(region.clone());
        let mut to_order = job.products;

        if job.check_first {
            self.progress.report(Progress::Checking { region: region.clone() });
            match self.ask(&region, &to_order).await? {
                Ok(answers) => {
                    // A plan made without the cloud's word could not skip these; skip them now.
                    let (refused, rest): (Vec<_>, Vec<_>) =
                        to_order.into_iter().zip(answers).partition(|(_, a)| a.not_permitted());
                    for (p, _) in refused {
                        report.set(
                            &p.address,
                            ProductOutcome::NotPermitted {
                                action: super::CREATE_ORDER_RAM_ACTION.to_owned(),
                            },
                        );
                    }
                    let (products, answers) = rest.into_iter().unzip();
                    to_order = self
                        .record_verdicts(&mut report, products, answers, Found::AlreadyPurchased)?
                        .again
                }
                Err(e) => {
                    // Without the cloud's word an interrupted order could be sent twice: order
                    // nothing. Nothing was sent either, and nothing is left pending.
                    for p in &to_order {
                        report.set(
                            &p.address,
                            ProductOutcome::NotSent {
                                error: format!("the check before ordering failed: {e}"),
                            },
                        );
                    }
                    return Ok(self.finish(report));
                }
            }
        }

        let mut attempt = 0;
        // The products of an order refused as "already open" that were not open are ordered
        // once more; a second such refusal is not followed by a third order.
        let mut refused_open = false;
        while !to_order.is_empty() {
            if self.cancel.is_cancelled() {
                for p in &to_order {
                    let outcome = if attempt == 0 {
                        ProductOutcome::NotSent {
                            error: NOT_SENT_INTERRUPTED.to_owned(),
                        }
                    } else {
                        // Its last order was reported not purchased: it stays `pending`, and the
                        // next run asks ListProducts before it orders.
                        ProductOutcome::Unknown {
                            error: "interrupted (Ctrl-C or SIGTERM) before it was ordered again; left pending: the \
                                    next run asks ListProducts about it, then orders it"
                                .to_owned(),
                        }
                    };
                    report.set(&p.address, outcome);
                }
                break;
            }
            attempt += 1;
            if attempt > self.config.max_order_attempts {
                // Each order failed ambiguously and ListProducts then reported the products not
                // purchased: the rows stay `pending`, and only the next run, after its settle
                // wait, can say whether the last one went through. That is not "failed".
                for p in &to_order {
                    let last = match report.outcome(&p.address) {
                        Some(ProductOutcome::Unknown { error }) => format!(" (the last answered: {error})"),
                        _ => String::new(),
                    };
                    report.set(
                        &p.address,
                        ProductOutcome::Unknown {
                            error: format!(
                                "outcome unknown after {} orders{last}: ListProducts reported it not purchased \
                                 each time, but such an error may hide an order that shows later; left pending, \
                                 the next run resolves it before it orders",
                                self.config.max_order_attempts
                            ),
                        },
                    );
                }
                break;
            }
            to_order = self
                .order_once(&mut report, to_order, job.auto_pay, attempt, &mut refused_open)
                .await?;
        }
        Ok(self.finish(report))
    }

    /// Sends one order for `products` and returns those that must be ordered again: only ones
    /// that `ListProducts` reported not purchased after an ambiguous failure, an answer that
    /// does not show them bought, or a refusal as "already open" that was about another product.
    async fn order_once(
        &self,
        report: &mut RegionReport,
        products: Vec<Product>,
        auto_pay: bool,
        attempt: u32,
        refused_open: &mut bool,
    ) -> Result<Vec<Product>, ExecError> {
        let region = &report.region.clone();
        let refs: Vec<&Product> = products.iter().collect();
        self.write(|w, run| w.put_pending(run, &refs))?;

        let body = OrderBody {
            auto_pay,
            products: products.iter().map(|p| p.request.clone()).collect(),
        };
        self.progress.report(Progress::Ordering {
            region: region.clone(),
            products: products.iter().map(Product::code).collect(),
            attempt,
        });
        let addresses: Vec<Address> = products.iter().map(|p| p.address.clone()).collect();
        let started = Instant::now();
        // The hook is `Fn`, shared with the client: the time of the last send comes out through a cell.
        let last_send: Mutex<Option<Instant>> = Mutex::new(None);
        let sent = AtomicU32::new(0);
        let note_sending = |n: u32| -> Result<(), Held> {
            // The last moment before a request leaves: after a Ctrl-C, none does.
            if self.cancel.is_cancelled() {
                return Err(Held::Cancelled);
            }
            let attempt = Attempt {
                order: attempt,
                request: n,
            };
            self.write(|w, run| w.note_sending(run, &addresses, attempt, self.config.settle))
                .map_err(Held::State)?;
            *last_send.lock().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
            sent.fetch_add(1, Ordering::Relaxed);
            Ok(())
        };
        let answer = match self
            .client
            .create_product_orders_noting(region, &body, &note_sending)
            .await
        {
            Ok(response) => Ok(response),
            Err(OrderError::Api(e)) => Err(e),
            // Nothing was sent, and the state cannot be trusted with this order's outcome: stop
            // the run rather than record anything about these rows.
            Err(OrderError::NotSent(Held::State(e))) => return Err(e.into()),
            // Interrupted before this request left. An earlier attempt of it, if any, failed
            // retry-safe (nothing bought): the rows are not pending, the next run orders them.
            Err(OrderError::NotSent(Held::Cancelled)) => {
                report.order_requests += sent.into_inner();
                self.write(|w, run| w.mark_failed(run, &addresses, NOT_SENT_INTERRUPTED))?;
                for a in &addresses {
                    report.set(
                        a,
                        ProductOutcome::NotSent {
                            error: NOT_SENT_INTERRUPTED.to_owned(),
                        },
                    );
                }
                return Ok(Vec::new());
            }
        };
        report.order_requests += sent.into_inner();
        let last_send = last_send.into_inner().unwrap_or_else(|p| p.into_inner());
        let settled_at = last_send.unwrap_or(started) + self.config.settle;
        let error = match answer {
            Ok(response) => {
                let call = api_call(
                    region,
                    CREATE_PRODUCT_ORDERS,
                    &products,
                    started,
                    Ok((response.request_id.clone(), response.order_id.clone())),
                );
                self.record_call(&call)?;
                return self
                    .record_answer(report, products, auto_pay, &response, settled_at)
                    .await;
            }
            Err(e) => e,
        };
        self.record_call(&api_call(
            region,
            CREATE_PRODUCT_ORDERS,
            &products,
            started,
            Err(&error),
        ))?;
        let codes: Vec<_> = products.iter().map(Product::code).collect();
        match error.order_refusal(&codes) {
            OrderRefusal::AlreadyOpen => {
                let may_reorder = !std::mem::replace(refused_open, true);
                self.after_already_open(report, products, &error, settled_at, may_reorder)
                    .await
            }
            OrderRefusal::Ambiguous => {
                tracing::warn!(kind = "order outcome unknown", region = %region, error = %error, "order outcome unknown; asking ListProducts");
                self.progress.report(Progress::Resolving { region: region.clone() });
                let settled = self
                    .resolve_settled(report, products, &error, Found::AnswerLost, settled_at)
                    .await?;
                // Until it is ordered again: what the last try of it was answered.
                for p in &settled.again {
                    report.set(
                        &p.address,
                        ProductOutcome::Unknown {
                            error: error.to_string(),
                        },
                    );
                }
                Ok(settled.again)
            }
            OrderRefusal::NotBought => {
                // Retry-safe (retries exhausted) or permanent: the server did not place the order.
                let addresses: Vec<Address> = products.iter().map(|p| p.address.clone()).collect();
                self.write(|w, run| w.mark_failed(run, &addresses, &error.to_string()))?;
                for a in &addresses {
                    report.set(
                        a,
                        ProductOutcome::Failed {
                            error: error.to_string(),
                        },
                    );
                }
                Ok(Vec::new())
            }
        }
    }

    /// Records an answered order. Each product the answer shows bought becomes `active` with its
    /// own product id; when the answer cannot tell (`own_product_ids`), `ListProducts` decides
    /// per product, and the rest are resolved as after an ambiguous failure.
    async fn record_answer(
        &self,
        report: &mut RegionReport,
        products: Vec<Product>,
        auto_pay: bool,
        response: &OrderResponse,
        settled_at: Instant,
    ) -> Result<Vec<Product>, ExecError> {
        let ordered = |product_id: Option<String>| OrderOutcome {
            order_id: response.order_id.clone(),
            product_ids: product_id.into_iter().collect(),
            buy_product_request_id: response.buy_product_request_id.clone(),
            request_id: response.request_id.clone(),
        };
        if !auto_pay {
            // An `AutoPay: false` order buys nothing until it is paid in the console, so its
            // answer shows no purchase to match: every row waits for the payment of this order.
            // Recording it active would hide that; recording nothing would order it again.
            let addresses: Vec<Address> = products.iter().map(|p| p.address.clone()).collect();
            self.write(|w, run| w.mark_unpaid(run, &addresses, &ordered(None)))?;
            let waiting = ProductOutcome::AwaitingPayment {
                order_id: response.order_id.clone(),
                request_id: response.request_id.clone(),
            };
            for a in &addresses {
                report.set(a, waiting.clone());
            }
            return Ok(Vec::new());
        }
        let as_ordered = ProductOutcome::Ordered {
            order_id: response.order_id.clone(),
            request_id: response.request_id.clone(),
            answer_lost: false,
        };
        if let Some(ids) = own_product_ids(products.len(), &response.product_ids) {
            let rows: Vec<(Address, Vec<String>)> = products
                .iter()
                .zip(ids)
                .map(|(p, id)| (p.address.clone(), vec![id]))
                .collect();
            self.write(|w, run| w.mark_active_each(run, &rows, &ordered(None)))?;
            for product in &products {
                report.set(&product.address, as_ordered.clone());
            }
            return Ok(Vec::new());
        }
        let region = report.region.clone();
        let doubt = format!(
            "CreateProductOrders answered (OrderId {}) with {} product ids for {} products",
            response.order_id.as_deref().unwrap_or("none"),
            response.product_ids.len(),
            products.len()
        );
        tracing::warn!(kind = "order answer unclear", region = %region, "{doubt}; asking ListProducts which were bought");
        self.progress.report(Progress::Resolving { region: region.clone() });
        let mut rest = products;
        // A "not purchased" is the last word only from a question asked once the settle time
        // has passed, as after an ambiguous failure: ask, and if need be wait and ask once more.
        for round in 0..2 {
            if round == 1 && !self.settle_wait(&region, settled_at).await {
                for p in &rest {
                    report.set(
                        &p.address,
                        ProductOutcome::Unknown {
                            error: format!("{doubt}; {}", super::settle::INTERRUPTED_WAIT),
                        },
                    );
                }
                return Ok(Vec::new());
            }
            let asked = Instant::now();
            let answers = match self.ask(&region, &rest).await? {
                Ok(answers) => answers,
                Err(list_error) => {
                    for p in &rest {
                        report.set(
                            &p.address,
                            ProductOutcome::Unknown {
                                error: format!("{doubt}; then {list_error}"),
                            },
                        );
                    }
                    return Ok(Vec::new());
                }
            };
            let mut not_purchased = Vec::new();
            for (product, answer) in rest.into_iter().zip(answers) {
                match answer.word {
                    Word::Purchased => {
                        let id = answer.product_id.filter(|id| !id.is_empty());
                        self.write(|w, run| w.mark_active(run, std::slice::from_ref(&product.address), &ordered(id)))?;
                        report.set(&product.address, as_ordered.clone());
                    }
                    Word::NotPurchased => not_purchased.push(product),
                    Word::Silent => report.set(
                        &product.address,
                        ProductOutcome::Unknown {
                            error: format!("{doubt}; ListProducts did not report this product"),
                        },
                    ),
                }
            }
            rest = not_purchased;
            if rest.is_empty() || asked >= settled_at {
                break;
            }
        }
        Ok(rest)
    }

    /// After a refusal as "already open": what `ListProducts` reports purchased is recorded, and
    /// the others, never tried, are returned to be ordered (when `may_reorder`). Which product
    /// was open only `ListProducts` can say, and it may not report a purchase at once: when it
    /// reports none, or the refusal came as a 5xx (the order may have gone through), a "not
    /// purchased" counts only from a question asked after `settled_at`. If none is reported
    /// purchased even then, the refusal is unexplained: the rows stay `pending`, for the next run.
    async fn after_already_open(
        &self,
        report: &mut RegionReport,
        products: Vec<Product>,
        refusal: &ApiError,
        settled_at: Instant,
        may_reorder: bool,
    ) -> Result<Vec<Product>, ExecError> {
        let region = report.region.clone();
        tracing::warn!(
            kind = "order refused as already open",
            region = %region,
            error = %refusal,
            "order refused as already open; asking ListProducts"
        );
        self.progress.report(Progress::Resolving { region: region.clone() });
        let asked = Instant::now();
        let mut settled = self.resolve(report, products, refusal, Found::AlreadyOpen).await?;
        let must_settle = refusal.is_ambiguous() || settled.recorded == 0;
        if !settled.again.is_empty() && must_settle && asked < settled_at {
            let second = self
                .settle_resolving(report, settled.again, refusal, Found::AlreadyOpen, settled_at)
                .await?;
            settled = Resolution {
                again: second.again,
                recorded: settled.recorded + second.recorded,
            };
        }
        if settled.recorded > 0 && may_reorder {
            return Ok(settled.again);
        }
        let why = if settled.recorded > 0 {
            "the order of the products that were not open was refused as already open too"
        } else {
            "ListProducts does not report which product is (yet)"
        };
        for p in &settled.again {
            report.set(
                &p.address,
                ProductOutcome::Unknown {
                    error: format!(
                        "{refusal}: refused as already open, and {why}; not ordered again, left pending for the next \
                         run to resolve"
                    ),
                },
            );
        }
        Ok(Vec::new())
    }

    /// Asks `ListProducts` about `products` after `failure`, records those it reports purchased
    /// and returns those it reports not purchased. When it cannot be asked, the rows stay
    /// `pending` for the next run, which resolves them before ordering.
    pub(super) async fn resolve(
        &self,
        report: &mut RegionReport,
        products: Vec<Product>,
        failure: &(dyn fmt::Display + Sync),
        why: Found,
    ) -> Result<Resolution, ExecError> {
        match self.ask(&report.region.clone(), &products).await? {
            Ok(answers) => self.record_verdicts(report, products, answers, why),
            Err(list_error) => {
                for p in &products {
                    report.set(
                        &p.address,
                        ProductOutcome::Unknown {
                            error: format!("{failure}; then {list_error}"),
                        },
                    );
                }
                Ok(Resolution {
                    again: Vec::new(),
                    recorded: 0,
                })
            }
        }
    }

    /// Records the products the cloud reports purchased and returns those it reports not
    /// purchased; a product it does not report stays as it is, for the next run. What the word
    /// means for each row is `pai_planner::reconcile`.
    pub(super) fn record_verdicts(
        &self,
        report: &mut RegionReport,
        products: Vec<Product>,
        answers: Vec<Answer>,
        why: Found,
    ) -> Result<Resolution, ExecError> {
        let mut again = Vec::new();
        let mut found = 0;
        for (product, answer) in products.into_iter().zip(answers) {
            // Read without beginning a deferred run: only a verdict that records begins it.
            let snapshot = super::lock(&self.writer).snapshot()?;
            let row = snapshot.resources.get(&product.address);
            let recorded = row.map(|r| Record::of(r, Some(answer.asked_at)));
            let elsewhere = recorded.is_none() && snapshot.find_activation(&product.region, product.code()).is_some();
            let product_id = answer.product_id.as_deref();
            match reconcile(recorded, elsewhere, answer.word) {
                Verdict::Resolve => {
                    self.write(|w, run| w.mark_resolved(run, &product.address, product_id))?;
                    report.set(&product.address, why.outcome());
                    found += 1;
                }
                // A reorder of a drifted row that the cloud now reports purchased is recorded
                // with the reviewed request, as an adoption.
                Verdict::Adopt | Verdict::Confirmed => {
                    self.write(|w, run| w.mark_adopted(run, &product, product_id))?;
                    report.set(&product.address, why.outcome());
                    found += 1;
                }
                // Not shown (yet). A pending row asked within its settle window is one this run
                // is settling: the caller's own settle wait decides whether it is ordered again.
                Verdict::NotPlaced | Verdict::AwaitingOutcome | Verdict::Absent | Verdict::Drift => again.push(product),
                // A plan that ordered it saw it settled and shown once at most; the state or
                // the clock moved since. Order nothing: the next plan says what it is.
                verdict @ (Verdict::AwaitingActivation | Verdict::NeverShows) => report.set(
                    &product.address,
                    ProductOutcome::Unknown {
                        error: format!(
                            "the cloud reports it not purchased, but {}; not ordered, plan again",
                            if verdict == Verdict::AwaitingActivation {
                                "its last order may not show yet"
                            } else {
                                "its reorder after drift never showed"
                            }
                        ),
                    },
                ),
                _ if answer.word == Word::Silent => report.set(
                    &product.address,
                    ProductOutcome::Unknown {
                        error: "ListProducts did not report this product".into(),
                    },
                ),
                _ => report.set(
                    &product.address,
                    ProductOutcome::Unknown {
                        error: "the cloud reports it purchased, and the state records it under another address; \
                                plan again"
                            .into(),
                    },
                ),
            }
        }
        Ok(Resolution { again, recorded: found })
    }

    fn finish(&self, report: RegionReport) -> RegionReport {
        let ok = report.is_success();
        self.progress.report(Progress::Finished {
            region: report.region.clone(),
            ok,
            message: report.headline(),
        });
        report
    }
}
