//! Two kinds of error: [`EmulatorError`] for the operator (the emulator could not start or
//! persist), and [`ApiError`], an answer on the wire in the shape of the real service's
//! (`{"RequestId","HostId","Code","Message"}` with an HTTP status; `Recommend` and
//! `AccessDeniedDetail` when realism asks).

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;

use hyper::StatusCode;
use pai_spec::Region;

/// Why the emulator could not start, or could not keep its ledger.
#[derive(Debug, thiserror::Error)]
pub enum EmulatorError {
    #[error("no listener is configured: give at least one `REGION=ADDR`")]
    NoListeners,
    #[error("region {0} is given more than one listener")]
    DuplicateRegion(Region),
    #[error("no access key is configured")]
    NoCredentials,
    #[error("invalid accounts: {0}")]
    Accounts(String),
    #[error("cannot listen on {addr} for {region}: {source}")]
    Bind {
        region: Region,
        addr: SocketAddr,
        #[source]
        source: io::Error,
    },
    #[error("the emulator must be started inside a Tokio runtime")]
    NoRuntime,
    #[error("cannot read the ledger {path}: {source}")]
    LedgerRead {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("the ledger {path} is not a valid emulator ledger: {source}")]
    LedgerParse {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("cannot write the ledger {path}: {source}")]
    LedgerWrite {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// An error answer, as the Alibaba Cloud POP gateway and the AIWorkSpace service give them.
///
/// Codes and statuses follow the gateway's documented common errors; see docs/emulator.md.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: String,
    pub message: String,
    /// Set on throttling: sent as `Retry-After` (seconds, rounded up) and `x-acs-retry-after` (ms).
    pub retry_after_ms: Option<u64>,
    /// Sent as `AccessDeniedDetail` on a permission refusal.
    pub access_denied_detail: Option<Box<serde_json::Value>>,
    /// On a signature mismatch, what the server signed (v2 string to sign, v3 canonical
    /// request). Appended to the message only when realism asks for the echo: it holds the
    /// security token, so it is also kept out of `Debug`.
    pub server_string_to_sign: Option<Box<str>>,
}

impl fmt::Debug for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiError")
            .field("status", &self.status)
            .field("code", &self.code)
            .field("message", &self.message)
            .field("retry_after_ms", &self.retry_after_ms)
            .field("access_denied_detail", &self.access_denied_detail)
            .field(
                "server_string_to_sign",
                &self.server_string_to_sign.as_ref().map(|_| "<hidden>"),
            )
            .finish()
    }
}

impl ApiError {
    fn new(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code: code.to_owned(),
            message: message.into(),
            retry_after_ms: None,
            access_denied_detail: None,
            server_string_to_sign: None,
        }
    }

    /// A refusal by the order system itself (not the gateway), with its own code.
    pub fn business(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        Self::new(status, code, message)
    }

    /// The RAM denial of `auth_action` for `access_key_id`, in the shape the gateway gives.
    pub fn no_permission(auth_action: &str, access_key_id: &str) -> Self {
        ApiError {
            access_denied_detail: Some(Box::new(serde_json::json!({
                "AuthAction": auth_action,
                "AuthPrincipalType": "SubUser",
                "AuthPrincipalDisplayName": access_key_id,
                "NoPermissionType": "ImplicitDeny",
                "PolicyType": "AccountLevelIdentityBasedPolicy",
                "EncodedDiagnosticMessage": "AQEAAAAA",
            }))),
            ..Self::new(
                StatusCode::FORBIDDEN,
                "NoPermission",
                format!("You are not authorized to do this operation. Action: {auth_action}."),
            )
        }
    }

    pub fn with_status(mut self, status: StatusCode) -> Self {
        self.status = status;
        self
    }

    /// With the echo on, the message as the real gateway words it.
    pub fn with_echo(mut self) -> Self {
        if let Some(s) = self.server_string_to_sign.take() {
            self.message = format!("{} server string to sign is:{s}", self.message);
        }
        self
    }

    pub fn incomplete_signature(detail: impl fmt::Display) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "IncompleteSignature",
            format!("The request signature does not conform to Aliyun standards. {detail}"),
        )
    }

    /// A mismatch of the signature itself, remembering what the server signed.
    pub fn signature_mismatch_of(server_string_to_sign: String) -> Self {
        ApiError {
            server_string_to_sign: Some(server_string_to_sign.into_boxed_str()),
            ..Self::signature_mismatch(None)
        }
    }

    pub fn signature_mismatch(detail: Option<&str>) -> Self {
        let base = "Specified signature is not matched with our calculation.";
        Self::new(
            StatusCode::BAD_REQUEST,
            "SignatureDoesNotMatch",
            match detail {
                Some(d) => format!("{base} {d}"),
                None => base.to_owned(),
            },
        )
    }

    pub fn invalid_signature_method(detail: impl fmt::Display) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "InvalidSignatureMethod",
            format!("Specified signature method is not valid. {detail}"),
        )
    }

    pub fn access_key_not_found() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "InvalidAccessKeyId.NotFound",
            "Specified access key is not found.",
        )
    }

    pub fn nonce_used() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "SignatureNonceUsed",
            "Specified signature nonce was used already.",
        )
    }

    pub fn timestamp_format(header: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "InvalidTimeStamp.Format",
            format!("Specified time stamp or date value is not well formatted ({header})."),
        )
    }

    pub fn timestamp_expired() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "InvalidTimeStamp.Expired",
            "Specified time stamp or date value is expired.",
        )
    }

    pub fn missing_security_token() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "MissingSecurityToken",
            "SecurityToken is mandatory for this action.",
        )
    }

    pub fn security_token_mismatch() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "InvalidSecurityToken.MismatchWithAccessKey",
            "Specified SecurityToken mismatch with the AccessKey.",
        )
    }

    pub fn security_token_expired() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "InvalidSecurityToken.Expired",
            "Specified SecurityToken is expired.",
        )
    }

    pub fn invalid_version(given: &str, want: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "InvalidVersion",
            format!("Specified parameter Version `{given}` is not valid; this API is version {want}."),
        )
    }

    pub fn api_not_found() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "InvalidApi.NotFound",
            "Specified api is not found, please check your url and method.",
        )
    }

    pub fn action_not_found(action: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "InvalidAction.NotFound",
            format!("Specified api `{action}` is not found, please check your url and method."),
        )
    }

    pub fn missing_parameter(name: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "MissingParameter",
            format!("The input parameter `{name}` that is mandatory for processing this request is not supplied."),
        )
    }

    pub fn invalid_parameter(name: &str, detail: impl fmt::Display) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "InvalidParameter",
            format!("The parameter `{name}` is invalid: {detail}"),
        )
    }

    /// STS names the parameter in the code (`InvalidParameter.RoleArn`).
    pub fn invalid_sts_parameter(name: &str, detail: impl fmt::Display) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            &format!("InvalidParameter.{name}"),
            format!("The parameter {name} is wrongly formed: {detail}"),
        )
    }

    pub fn oidc_token_expired() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "AuthenticationFail.OIDCToken.Expired",
            "The OIDC token has expired.",
        )
    }

    pub fn body_too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "RequestEntityTooLarge",
            format!("The request body is larger than {limit} bytes."),
        )
    }

    pub fn throttled(retry_after_ms: u64) -> Self {
        ApiError {
            retry_after_ms: Some(retry_after_ms),
            ..Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                "Throttling.User",
                "Request was denied due to user flow control.",
            )
        }
    }

    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalError",
            "The request processing has failed due to some unknown error, exception or failure.",
        )
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}: {}", self.status.as_u16(), self.code, self.message)
    }
}
