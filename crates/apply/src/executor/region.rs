//! One region's order: check, intent, send once, record; and the resolution of an unknown outcome.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use pai_planner::{reconcile, Verdict, Word};
use pai_spec::{Address, OrderBody, Product, Region};
use pai_state::{OrderOutcome, RunId, StateError, StateWriter};

use super::report::{ProductOutcome, RegionReport};
use super::{api_call, ask_cloud, lock, Answer, ExecError, ExecutorConfig, Progress, ProgressSink};
use crate::client::{ApiError, Client, OrderError, CREATE_PRODUCT_ORDERS};

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
    pub run: RunId,
    pub config: ExecutorConfig,
    pub progress: Arc<dyn ProgressSink>,
}

impl Context {
    pub async fn run(self, job: RegionJob) -> Result<RegionReport, ExecError> {
        let region = job.region.clone();
        let mut report = RegionReport::new(region.clone());
        let mut to_order = job.products;

        if job.check_first {
            self.progress.report(Progress::Checking { region: region.clone() });
            match ask_cloud(&self.client, &self.writer, self.run, &region, &to_order).await? {
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
                    to_order = self.record_verdicts(&mut report, products, answers, "already purchased")?
                }
                Err(e) => {
                    // Without the cloud's word an interrupted order could be sent twice: order nothing.
                    for p in &to_order {
                        report.set(&p.address, ProductOutcome::Unknown { error: e.to_string() });
                    }
                    return Ok(self.finish(report));
                }
            }
        }

        let mut attempt = 0;
        while !to_order.is_empty() {
            attempt += 1;
            if attempt > self.config.max_order_attempts {
                for p in &to_order {
                    report.set(
                        &p.address,
                        ProductOutcome::Failed {
                            error: format!(
                                "not purchased after {} orders whose outcome was unknown; run apply again",
                                self.config.max_order_attempts
                            ),
                        },
                    );
                }
                break;
            }
            to_order = self.order_once(&mut report, to_order, job.auto_pay, attempt).await?;
        }
        Ok(self.finish(report))
    }

    /// Sends one order for `products` and returns those that must be ordered again: only ones
    /// that `ListProducts` reported not purchased after an ambiguous failure.
    async fn order_once(
        &self,
        report: &mut RegionReport,
        products: Vec<Product>,
        auto_pay: bool,
        attempt: u32,
    ) -> Result<Vec<Product>, ExecError> {
        let region = &report.region.clone();
        let refs: Vec<&Product> = products.iter().collect();
        lock(&self.writer).put_pending(self.run, &refs)?;

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
        let note_sending = |n: u32| -> Result<(), StateError> {
            lock(&self.writer).note_sending(self.run, &addresses, n)?;
            *last_send.lock().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
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
            Err(OrderError::NotSent(e)) => return Err(e.into()),
        };
        let last_send = last_send.into_inner().unwrap_or_else(|p| p.into_inner());
        match answer {
            Ok(response) => {
                let call = api_call(
                    region,
                    CREATE_PRODUCT_ORDERS,
                    &products,
                    started,
                    Ok((response.request_id.clone(), response.order_id.clone())),
                );
                let outcome = OrderOutcome {
                    order_id: response.order_id.clone(),
                    product_ids: response.product_ids.clone(),
                    buy_product_request_id: response.buy_product_request_id.clone(),
                    request_id: response.request_id.clone(),
                };
                let mut writer = lock(&self.writer);
                writer.record_api_call(self.run, &call)?;
                // An `AutoPay: false` order buys nothing until it is paid in the console; recording
                // it active would hide that, and recording nothing would order it again next run.
                let (order_id, request_id) = (response.order_id.clone(), response.request_id.clone());
                let done = if auto_pay {
                    writer.mark_active(self.run, &addresses, &outcome)?;
                    ProductOutcome::Ordered { order_id, request_id }
                } else {
                    writer.mark_unpaid(self.run, &addresses, &outcome)?;
                    ProductOutcome::AwaitingPayment { order_id, request_id }
                };
                for a in &addresses {
                    report.set(a, done.clone());
                }
                Ok(Vec::new())
            }
            Err(e) if e.is_ambiguous() => {
                lock(&self.writer).record_api_call(
                    self.run,
                    &api_call(region, CREATE_PRODUCT_ORDERS, &products, started, Err(&e)),
                )?;
                tracing::warn!(region = %region, error = %e, "order outcome unknown; asking ListProducts");
                self.progress.report(Progress::Resolving { region: region.clone() });
                // A "not purchased" is the last word only from a question asked once the order,
                // if it is still on its way, has had the settle time to arrive. When the answer
                // was given matters, not when it came back: take the time before asking.
                let settled_at = last_send.unwrap_or(started) + self.config.settle;
                let asked = Instant::now();
                let not_purchased = self.resolve(report, products, &e, "purchased, response lost").await?;
                if not_purchased.is_empty() || asked >= settled_at {
                    return Ok(not_purchased);
                }
                let wait = settled_at.saturating_duration_since(Instant::now());
                if !wait.is_zero() {
                    tracing::warn!(
                        region = %region,
                        "the cloud does not report the order yet; waiting {:.1}s for it to arrive before ordering again",
                        wait.as_secs_f64()
                    );
                    self.progress.report(Progress::Settling {
                        region: region.clone(),
                        wait,
                    });
                    tokio::time::sleep(wait).await;
                }
                self.resolve(report, not_purchased, &e, "purchased, response lost")
                    .await
            }
            Err(e) => {
                // Retry-safe (retries exhausted) or permanent: the server did not place the order.
                let mut writer = lock(&self.writer);
                writer.record_api_call(
                    self.run,
                    &api_call(region, CREATE_PRODUCT_ORDERS, &products, started, Err(&e)),
                )?;
                writer.mark_failed(self.run, &addresses, &e.to_string())?;
                for a in &addresses {
                    report.set(a, ProductOutcome::Failed { error: e.to_string() });
                }
                Ok(Vec::new())
            }
        }
    }

    /// Asks `ListProducts` about `products` after the ambiguous failure `failure`, records those
    /// it reports purchased and returns those it reports not purchased. When it cannot be asked,
    /// the rows stay `pending` for the next run, which resolves them before ordering.
    async fn resolve(
        &self,
        report: &mut RegionReport,
        products: Vec<Product>,
        failure: &ApiError,
        why: &str,
    ) -> Result<Vec<Product>, ExecError> {
        match ask_cloud(&self.client, &self.writer, self.run, &report.region.clone(), &products).await? {
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
                Ok(Vec::new())
            }
        }
    }

    /// Records the products the cloud reports purchased and returns those it reports not
    /// purchased; a product it does not report stays as it is, for the next run. What the word
    /// means for each row is `pai_planner::reconcile`.
    fn record_verdicts(
        &self,
        report: &mut RegionReport,
        products: Vec<Product>,
        answers: Vec<Answer>,
        why: &str,
    ) -> Result<Vec<Product>, ExecError> {
        let mut again = Vec::new();
        for (product, answer) in products.into_iter().zip(answers) {
            let mut writer = lock(&self.writer);
            let snapshot = writer.snapshot()?;
            let recorded = snapshot.resources.get(&product.address).map(|r| r.status);
            let elsewhere = recorded.is_none() && snapshot.find_activation(&product.region, product.code()).is_some();
            let product_id = answer.product_id.as_deref();
            match reconcile(recorded, elsewhere, answer.word) {
                Verdict::Resolve => {
                    writer.mark_resolved(self.run, &product.address, product_id)?;
                    report.set(&product.address, ProductOutcome::Recorded { why: why.to_owned() });
                }
                // A reorder of a drifted row that the cloud now reports purchased is recorded
                // with the reviewed request, as an adoption.
                Verdict::Adopt | Verdict::Confirmed => {
                    writer.mark_adopted(self.run, &product, product_id)?;
                    report.set(&product.address, ProductOutcome::Recorded { why: why.to_owned() });
                }
                Verdict::NotPlaced | Verdict::Absent | Verdict::Drift => again.push(product),
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
        Ok(again)
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
