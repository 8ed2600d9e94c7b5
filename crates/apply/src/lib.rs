//! Everything of pai-provision that talks to Alibaba Cloud: the AIWorkSpace API client, the
//! credentials it signs with (a role per account for a fleet), and Resource Directory discovery.
//!
//! The client sends `CreateProductOrders` and `ListProducts` exactly as the official Python SDK
//! does (same headers, same query encoding, the same bytes signed with ACS3-HMAC-SHA256 or ROA
//! HMAC-SHA1 through `pai-sign`), and classifies every failure by what the server may have done,
//! because an order sent twice is billed twice: retry-safe failures are retried with backoff,
//! ambiguous ones are handed back for the executor to resolve with `ListProducts`.
//!
//! Modules:
//! - [`client`]: [`Client`], [`ClientConfig`], endpoints, request building and signing, retries,
//!   [`ApiError`] (with [`OrderRefusal`], what an order's failure says: already open, not bought,
//!   or ambiguous) and the response types, and `client::scrub`, which cleans every text a server
//!   returns of request material (secret, token, signature, string to sign) before it goes anywhere.
//! - [`credentials`]: the SDK's default credential chain ([`DefaultChain`]), fixed keys for the
//!   sandbox ([`StaticCredentials`]), a fleet's role per account ([`AssumeRoleProvider`], named
//!   by [`session_identity`]) and the [`Secret`] wrapper that keeps secrets out of output.
//!   [`Client::with_credentials`] gives each account its own client over shared connections.
//! - [`directory`]: a fleet's discovery, [`list_accounts`] of a Resource Directory folder.
//! - `status`: [`ListProductsStatus`], the planner's `StatusSource` backed by `ListProducts`.
//! - [`executor`]: [`Executor`], which carries out a plan exactly once per product
//!   (`docs/idempotency.md`), its [`ApplyReport`], and [`await_interrupted`] for rows a killed
//!   run left `pending`.
//! - `refresh`: [`refresh()`], which records what the cloud reports (adopt,
//!   resolve, drift) and returns its [`Finding`]s.
//!
//! Reports and findings are data (`Serialize`); their human text is the CLI's.
//!
//! The executor calls, per region:
//!
//! ```no_run
//! # async fn example(body: pai_spec::OrderBody) -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use pai_apply::{Client, ClientConfig, DefaultChain, EndpointResolver};
//! let config = ClientConfig { endpoint: EndpointResolver::public(), ..ClientConfig::default() };
//! let client = Client::new(config, Arc::new(DefaultChain::from_process_env(None, None)))?;
//! let region = pai_spec::Region::parse("cn-hangzhou")?;
//! match client.create_product_orders(&region, &body).await {
//!     Ok(order) => println!("ordered: {:?}", order.order_id),
//!     Err(e) if e.is_ambiguous() => println!("may have been ordered; ask ListProducts: {e}"),
//!     Err(e) => println!("not ordered: {e}"),
//! }
//! # Ok(()) }
//! ```

pub mod client;
pub mod credentials;
pub mod directory;
pub mod executor;
mod refresh;
mod status;

pub use client::{
    ApiError, Client, ClientConfig, ClientError, EndpointResolver, ErrorKind, Failure, ListProductsQuery,
    ListProductsResponse, OrderError, OrderRefusal, OrderResponse, ProductStatus, ProxyConfig, RetryPolicy, RpcClient,
};
pub use credentials::{
    session_identity, AssumeRoleConfig, AssumeRoleProvider, CredentialError, CredentialProvider, Credentials,
    DefaultChain, OidcRoleConfig, OidcRoleProvider, Secret, SessionIdentity, StaticCredentials,
};
pub use directory::{list_accounts, DirectoryAccount, DirectoryError};
pub use executor::{
    await_interrupted, ApplyReport, Cancel, ExecError, ExecErrorKind, Executor, ExecutorConfig, ProductOutcome,
    Progress, ProgressSink, RegionReport, Silent,
};
pub use refresh::{refresh, Finding, FindingKind};
pub use status::{ListCall, ListProductsStatus};
