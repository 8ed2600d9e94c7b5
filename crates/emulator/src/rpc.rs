//! Signed RPC calls on `/`: STS `AssumeRole` and Resource Manager `ListAccounts`, routed by
//! `x-acs-action` and `x-acs-version`, verified as strictly as the AIWorkSpace calls
//! (ACS3-HMAC-SHA256 only), and faulted like them (latency, throttling, 5xx; nothing is
//! committed here, so nothing is dropped after a commit).

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Response, StatusCode};
use pai_sign::wire::{resource_manager, sts};
use time::OffsetDateTime;

use crate::auth::{self, StrictHeaders};
use crate::error::ApiError;
use crate::server::{draw_faults, json_response, rpc_params, Service, Shared};
use crate::{resource_manager as rm, sts::assume_role};

/// The RAM action `ListAccounts` needs, for the refusal of a member account's key.
const LIST_ACCOUNTS_RAM_ACTION: &str = "resourcemanager:ListAccounts";

/// The service an action belongs to (for the error's `HostId`).
pub(crate) fn service(action: &str) -> Service<'static> {
    if action == resource_manager::LIST_ACCOUNTS {
        Service::ResourceManager
    } else {
        Service::Sts
    }
}

enum Api {
    AssumeRole,
    ListAccounts,
}

/// Which API a call names, before its signature is checked (the gateway routes first).
fn api(req: &pai_sign::Request<'_>) -> Result<(Api, &'static str, &'static str), ApiError> {
    let action = req.required_header("x-acs-action")?;
    let version = req.required_header("x-acs-version")?;
    let (api, want) = match action {
        sts::ASSUME_ROLE => (Api::AssumeRole, sts::VERSION),
        resource_manager::LIST_ACCOUNTS => (Api::ListAccounts, resource_manager::VERSION),
        other => return Err(ApiError::action_not_found(other)),
    };
    if version != want {
        return Err(ApiError::invalid_version(version, want));
    }
    let action = match api {
        Api::AssumeRole => sts::ASSUME_ROLE,
        Api::ListAccounts => resource_manager::LIST_ACCOUNTS,
    };
    Ok((api, action, want))
}

pub(crate) async fn call(
    req: &pai_sign::Request<'_>,
    shared: &Shared,
    request_id: &str,
) -> Result<Response<Full<Bytes>>, ApiError> {
    let (api, action, version) = api(req)?;
    if shared.faults.latency_ms > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(shared.faults.latency_ms)).await;
    }
    let now = OffsetDateTime::now_utc();
    let identity = auth::authenticate_for(req, action, version, &shared.keys, &shared.nonces, now, shared.max_skew)?;
    draw_faults(shared)?;
    let params = rpc_params(req);
    match api {
        Api::AssumeRole => {
            let request = assume_role::parse(&params)?;
            let grant = assume_role::authorize(request, &identity, &shared.accounts)?;
            tracing::info!(
                role_arn = %grant.caller.role_arn,
                session = %grant.caller.session_name,
                caller_account = %identity.account,
                "role assumed"
            );
            let answer = assume_role::issue(grant, &shared.keys, now, request_id.to_owned());
            Ok(json_response(StatusCode::OK, &answer, Some(request_id)))
        }
        Api::ListAccounts => {
            // Only the management account reads its Resource Directory.
            if identity.account != shared.accounts.home() {
                return Err(ApiError::no_permission(
                    LIST_ACCOUNTS_RAM_ACTION,
                    &identity.access_key_id,
                ));
            }
            let query = rm::parse(&params)?;
            let answer = rm::list_accounts(&query, &shared.accounts, request_id.to_owned());
            Ok(json_response(StatusCode::OK, &answer, Some(request_id)))
        }
    }
}
