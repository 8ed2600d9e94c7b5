//! API failures, classified for the executor by what the server may have done.

use std::fmt;

use pai_spec::ProductCode;
use serde::Deserialize;

use super::scrub::{self, RequestMaterial};

/// What a failure means for a request that costs money.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The server did not act: nothing was sent (connection refused, DNS), or it refused the
    /// request unprocessed (HTTP 429, a `Throttling` code, 408, a 4xx with a positive
    /// `x-acs-retry-after`). Sending again is safe.
    RetrySafe,
    /// The server may have acted: a timeout after the request was written, a connection reset
    /// or closed without a response, HTTP 5xx, or an unreadable success response. An order must
    /// not be sent again before `ListProducts` has been asked.
    Ambiguous,
    /// The server refused the request (any other 4xx), or the request could not be made at all
    /// (credentials, configuration). Sending it again would fail the same way.
    Permanent,
}

impl ErrorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::RetrySafe => "retry-safe",
            ErrorKind::Ambiguous => "ambiguous",
            ErrorKind::Permanent => "permanent",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where the failure happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Failure {
    /// The server answered with an error status.
    Status,
    /// No connection could be made (refused, DNS, connect timeout, TLS handshake).
    Connect,
    /// The connection was made and the request (possibly) written, but no full answer came in time.
    Timeout,
    /// The connection broke after the request was (possibly) written.
    ConnectionLost,
    /// A success status with a body that is not the expected JSON.
    InvalidResponse,
    /// No credentials to sign with.
    Credentials,
    /// The request could not be built (an invalid header value, for example).
    Request,
}

/// A failed API call. `Display` carries the action, the server's `Code`, `Message` and
/// `RequestId`, and how many attempts were made; it never contains a credential.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub kind: ErrorKind,
    pub failure: Failure,
    /// `CreateProductOrders` or `ListProducts`.
    pub action: &'static str,
    pub http_status: Option<u16>,
    pub code: Option<String>,
    pub message: String,
    pub request_id: Option<String>,
    /// The gateway that answered (`HostId`), e.g. `aiworkspace.cn-hangzhou.aliyuncs.com`.
    pub host_id: Option<String>,
    /// The troubleshooting link the service suggests (`Recommend`).
    pub recommend: Option<String>,
    /// Why RAM refused (a 403's `AccessDeniedDetail`): it names the missing action. Boxed to
    /// keep every `Result` carrying an `ApiError` small.
    pub access_denied: Option<Box<AccessDeniedDetail>>,
    /// Requests (or attempts to send one) made, including the failed last one.
    pub attempts: u32,
}

impl ApiError {
    pub(crate) fn new(kind: ErrorKind, failure: Failure, action: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            kind,
            failure,
            action,
            http_status: None,
            code: None,
            message: message.into(),
            request_id: None,
            host_id: None,
            recommend: None,
            access_denied: None,
            attempts: 0,
        }
    }

    /// The server may have acted on the request; for an order, ask `ListProducts` before anything else.
    pub fn is_ambiguous(&self) -> bool {
        self.kind == ErrorKind::Ambiguous
    }

    pub fn is_retry_safe(&self) -> bool {
        self.kind == ErrorKind::RetrySafe
    }

    pub fn is_permanent(&self) -> bool {
        self.kind == ErrorKind::Permanent
    }

    /// The server refused for load: HTTP 429, a `Throttling*` code, or (as the SDK decides) a
    /// 4xx carrying a positive `x-acs-retry-after`, which is what made it retry-safe.
    pub fn is_throttling(&self) -> bool {
        let status = self.http_status.unwrap_or(0);
        status == 429
            || self.code.as_deref().is_some_and(is_throttling_code)
            || (self.failure == Failure::Status
                && self.kind == ErrorKind::RetrySafe
                && (400..500).contains(&status)
                && status != 408)
    }
}

/// What a failed `CreateProductOrders` says about the products it ordered
/// ([`ApiError::order_refusal`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OrderRefusal {
    /// Refused because a product of the order is already open (bought before, maybe in the
    /// console): the order is not billed, but which product was open only `ListProducts` can say.
    AlreadyOpen,
    /// Refused for another reason, or never sent: nothing was bought.
    NotBought,
    /// The server may have placed the order: only `ListProducts` can say.
    Ambiguous,
}

/// Codes that mean "already opened" whatever the product, as terraform-provider-alicloud
/// matches them (a prefix, since old Tea SDKs appended `Error` to the code).
const ALREADY_OPEN_CODES: &[&str] = &["ORDER.OPEND"];
/// The provider reads this one as "already opened" only where OSS is opened; for any other
/// product it is a sales-validation refusal (the account may not buy it).
const OSS_ALREADY_OPEN_CODE: &str = "SYSTEM.SALE_VALIDATE_NO_SPECIFIC_CODE_FAILED";
/// Words of a refusal's message that mean "already opened" (`您已开通过`: "you have already
/// opened"), whatever its code and status.
const ALREADY_OPEN_WORDS: &[&str] = &["您已开通过", "已开通", "already opened"];

impl ApiError {
    /// What this failure of an order of `ordered` says: the code and message decide "already
    /// open", not the status (`ORDER.OPEND`'s status is not documented, and the "您已开通过"
    /// message comes as a 500); otherwise the class decides. `docs/idempotency.md`, step 7.
    pub fn order_refusal(&self, ordered: &[ProductCode]) -> OrderRefusal {
        let code = self.code.as_deref().unwrap_or("");
        let by_code = ALREADY_OPEN_CODES.iter().any(|c| code.starts_with(c))
            || (code.starts_with(OSS_ALREADY_OPEN_CODE) && ordered.contains(&ProductCode::Oss));
        let message = self.message.to_lowercase();
        let by_message = self.failure == Failure::Status && ALREADY_OPEN_WORDS.iter().any(|w| message.contains(w));
        if by_code || by_message {
            OrderRefusal::AlreadyOpen
        } else if self.is_ambiguous() {
            OrderRefusal::Ambiguous
        } else {
            OrderRefusal::NotBought
        }
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} failed: {}", self.action, self.message)?;
        if let Some(denied) = &self.access_denied {
            write!(f, "; {denied}")?;
        }
        let mut details = Vec::new();
        if let Some(status) = self.http_status {
            details.push(format!("HTTP {status}"));
        }
        if let Some(code) = &self.code {
            details.push(format!("Code {code}"));
        }
        if let Some(id) = &self.request_id {
            details.push(format!("RequestId {id}"));
        }
        details.push(self.kind.to_string());
        if self.attempts > 1 {
            details.push(format!("{} attempts", self.attempts));
        }
        write!(f, " ({})", details.join(", "))
    }
}

impl std::error::Error for ApiError {}

/// `Throttling`, `Throttling.User`, `Throttling.Api` (the SDK's retry conditions), and the
/// variants other services use (`Rejected.Throttling`), as terraform-provider-alicloud matches them.
fn is_throttling_code(code: &str) -> bool {
    code.contains("Throttling")
}

/// Classify an error status and its `Code`.
pub fn classify_status(status: u16, code: Option<&str>) -> ErrorKind {
    classify_response(status, code, false)
}

/// Classify an error status, its `Code`, and whether the response carried a positive
/// `x-acs-retry-after` (milliseconds).
///
/// The SDK calls any 4xx or 5xx with that header a throttling error, whatever its code. For a
/// 4xx that is safe to follow: the server refused the request either way. A 5xx stays
/// ambiguous unless its code says throttling: a header is not proof that an order was not
/// taken, and an order must never be bought twice.
pub fn classify_response(status: u16, code: Option<&str>, acs_retry_after: bool) -> ErrorKind {
    if status == 429 || status == 408 || code.is_some_and(is_throttling_code) {
        ErrorKind::RetrySafe
    } else if (500..600).contains(&status) {
        ErrorKind::Ambiguous
    } else if acs_retry_after && (400..500).contains(&status) {
        ErrorKind::RetrySafe
    } else {
        ErrorKind::Permanent
    }
}

/// A RAM denial's `AccessDeniedDetail` (either key case, as the SDK reads it): the fields that
/// say what to grant. `EncodedDiagnosticMessage` is kept for Alibaba Cloud's decoder (support
/// asks for it) but not shown: it is long and opaque to a reader.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccessDeniedDetail {
    /// The action the caller lacks, e.g. `paiworkspace:CreateProductOrders`.
    pub auth_action: Option<String>,
    pub auth_principal_type: Option<String>,
    pub auth_principal_display_name: Option<String>,
    /// `ImplicitDeny` (no policy grants it) or `ExplicitDeny` (a policy forbids it).
    pub no_permission_type: Option<String>,
    pub policy_type: Option<String>,
    pub encoded_diagnostic_message: Option<String>,
}

impl AccessDeniedDetail {
    fn from_json(value: &serde_json::Value) -> Option<AccessDeniedDetail> {
        let object = value.as_object()?;
        let field = |name: &str| {
            object
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .and_then(|(_, v)| v.as_str())
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
        };
        let detail = AccessDeniedDetail {
            auth_action: field("AuthAction"),
            auth_principal_type: field("AuthPrincipalType"),
            auth_principal_display_name: field("AuthPrincipalDisplayName"),
            no_permission_type: field("NoPermissionType"),
            policy_type: field("PolicyType"),
            encoded_diagnostic_message: field("EncodedDiagnosticMessage"),
        };
        (detail != AccessDeniedDetail::default()).then_some(detail)
    }
}

impl fmt::Display for AccessDeniedDetail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.auth_action {
            Some(action) => write!(f, "RAM denied action {action}")?,
            None => f.write_str("RAM denied the request")?,
        }
        let principal = match (&self.auth_principal_type, &self.auth_principal_display_name) {
            (Some(t), Some(n)) => Some(format!("principal {t} {n}")),
            (Some(x), None) | (None, Some(x)) => Some(format!("principal {x}")),
            (None, None) => None,
        };
        let details: Vec<String> = [principal, self.no_permission_type.clone(), self.policy_type.clone()]
            .into_iter()
            .flatten()
            .collect();
        if !details.is_empty() {
            write!(f, " ({})", details.join(", "))?;
        }
        Ok(())
    }
}

/// An error body, `{"RequestId","HostId","Code","Message","Recommend"}` plus a RAM denial's
/// `AccessDeniedDetail`, read as tolerantly as the SDK reads it (PascalCase or camelCase keys).
#[derive(Debug, Default, Deserialize)]
pub(crate) struct ErrorBody {
    #[serde(rename = "Code", alias = "code")]
    pub code: Option<String>,
    #[serde(rename = "Message", alias = "message")]
    pub message: Option<String>,
    #[serde(rename = "RequestId", alias = "requestId", alias = "requestid")]
    pub request_id: Option<String>,
    #[serde(rename = "HostId", alias = "hostId")]
    pub host_id: Option<String>,
    #[serde(rename = "Recommend", alias = "recommend")]
    pub recommend: Option<String>,
    #[serde(rename = "AccessDeniedDetail", alias = "accessDeniedDetail")]
    access_denied_detail: Option<serde_json::Value>,
}

impl ErrorBody {
    pub(crate) fn access_denied(&self) -> Option<Box<AccessDeniedDetail>> {
        self.access_denied_detail
            .as_ref()
            .and_then(AccessDeniedDetail::from_json)
            .map(Box::new)
    }

    /// Parse an error response body; a non-JSON body (a proxy's HTML page) becomes a short
    /// message. Every text comes back cleaned of `material`.
    pub(crate) fn parse(body: &[u8], material: &RequestMaterial) -> ErrorBody {
        match serde_json::from_slice::<ErrorBody>(body) {
            Ok(mut parsed) => {
                let clean = |field: &mut Option<String>| {
                    if let Some(text) = field.as_mut() {
                        *text = scrub::clean(text, material);
                    }
                };
                for field in [
                    &mut parsed.code,
                    &mut parsed.message,
                    &mut parsed.request_id,
                    &mut parsed.host_id,
                    &mut parsed.recommend,
                ] {
                    clean(field);
                }
                if let Some(detail) = parsed.access_denied_detail.as_mut() {
                    scrub_json(detail, material);
                }
                parsed
            }
            Err(_) => {
                // Cleaned whole before it is cut, so that no part of a secret survives the cut.
                let text = scrub::clean(&String::from_utf8_lossy(body), material);
                let snippet: String = text.trim().chars().take(200).collect();
                ErrorBody {
                    message: (!snippet.is_empty()).then(|| format!("non-JSON response: {snippet}")),
                    ..ErrorBody::default()
                }
            }
        }
    }
}

fn scrub_json(value: &mut serde_json::Value, material: &RequestMaterial) {
    match value {
        serde_json::Value::String(text) => *text = scrub::clean(text, material),
        serde_json::Value::Array(items) => items.iter_mut().for_each(|v| scrub_json(v, material)),
        serde_json::Value::Object(map) => map.values_mut().for_each(|v| scrub_json(v, material)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_classes() {
        let table = [
            (429, None, ErrorKind::RetrySafe),
            (400, Some("Throttling.User"), ErrorKind::RetrySafe),
            (503, Some("Throttling"), ErrorKind::RetrySafe),
            (408, None, ErrorKind::RetrySafe),
            (500, Some("InternalError"), ErrorKind::Ambiguous),
            (502, None, ErrorKind::Ambiguous),
            (503, Some("ServiceUnavailable"), ErrorKind::Ambiguous),
            (400, Some("InvalidParameter"), ErrorKind::Permanent),
            (403, Some("Forbidden.RAM"), ErrorKind::Permanent),
            (404, None, ErrorKind::Permanent),
            (301, None, ErrorKind::Permanent),
        ];
        for (status, code, want) in table {
            assert_eq!(classify_status(status, code), want, "{status} {code:?}");
        }
    }

    /// The codes of the SDK's retry conditions and its rule that a positive `x-acs-retry-after`
    /// makes any error a throttling one, kept only where nothing can have been bought.
    #[test]
    fn throttling_classes() {
        let table = [
            // (status, code, positive x-acs-retry-after, class)
            (400, Some("Throttling"), false, ErrorKind::RetrySafe),
            (400, Some("Throttling.User"), false, ErrorKind::RetrySafe),
            (400, Some("Throttling.Api"), true, ErrorKind::RetrySafe),
            (400, Some("Throttling.Tenant"), false, ErrorKind::RetrySafe),
            (403, Some("Rejected.Throttling"), false, ErrorKind::RetrySafe),
            (400, Some("QuotaExceeded"), true, ErrorKind::RetrySafe),
            (400, Some("InvalidParameter"), false, ErrorKind::Permanent),
            (503, Some("ServiceUnavailable"), true, ErrorKind::Ambiguous),
            (500, Some("Throttling"), true, ErrorKind::RetrySafe),
            (404, Some("InvalidAction.NotFound"), false, ErrorKind::Permanent),
            (403, Some("Forbidden.RAM"), false, ErrorKind::Permanent),
            (400, Some("SignatureDoesNotMatch"), false, ErrorKind::Permanent),
        ];
        for (status, code, header, want) in table {
            assert_eq!(
                classify_response(status, code, header),
                want,
                "{status} {code:?} {header}"
            );
            let mut err = ApiError::new(want, Failure::Status, "ListProducts", "m");
            err.http_status = Some(status);
            err.code = code.map(str::to_owned);
            let throttled = want == ErrorKind::RetrySafe;
            assert_eq!(err.is_throttling(), throttled, "{status} {code:?} {header}");
        }
    }

    /// terraform-provider-alicloud's "already opened" signals (code, not status), and that a
    /// 5xx not about being open stays ambiguous.
    #[test]
    fn order_refusals() {
        use ProductCode::{DataWorks, Oss, Pai};
        let both: &[ProductCode] = &[Pai, Oss];
        let no_oss: &[ProductCode] = &[Pai, DataWorks];
        // (status, code, message, the order's products, what it says)
        type Case<'a> = (u16, Option<&'a str>, &'a str, &'a [ProductCode], OrderRefusal);
        let table: [Case; 12] = [
            (
                400,
                Some("ORDER.OPEND"),
                "PAI_share is already opened",
                both,
                OrderRefusal::AlreadyOpen,
            ),
            (500, Some("ORDER.OPEND"), "m", no_oss, OrderRefusal::AlreadyOpen),
            (400, Some("ORDER.OPENDError"), "m", no_oss, OrderRefusal::AlreadyOpen),
            (
                500,
                Some("InternalError"),
                "您已开通过 PAI_share, 无需重复开通",
                no_oss,
                OrderRefusal::AlreadyOpen,
            ),
            (
                400,
                Some("Conflict"),
                "The service is already opened",
                no_oss,
                OrderRefusal::AlreadyOpen,
            ),
            (400, None, "该服务已开通", no_oss, OrderRefusal::AlreadyOpen),
            (
                400,
                Some("SYSTEM.SALE_VALIDATE_NO_SPECIFIC_CODE_FAILED"),
                "m",
                both,
                OrderRefusal::AlreadyOpen,
            ),
            (
                400,
                Some("SYSTEM.SALE_VALIDATE_NO_SPECIFIC_CODE_FAILEDError"),
                "m",
                both,
                OrderRefusal::AlreadyOpen,
            ),
            (
                400,
                Some("SYSTEM.SALE_VALIDATE_NO_SPECIFIC_CODE_FAILED"),
                "m",
                no_oss,
                OrderRefusal::NotBought,
            ),
            (
                500,
                Some("SYSTEM.SALE_VALIDATE_NO_SPECIFIC_CODE_FAILED"),
                "m",
                no_oss,
                OrderRefusal::Ambiguous,
            ),
            (
                500,
                Some("InternalError"),
                "business error",
                both,
                OrderRefusal::Ambiguous,
            ),
            (
                400,
                Some("InvalidParameter"),
                "ProductCode is invalid",
                both,
                OrderRefusal::NotBought,
            ),
        ];
        for (status, code, message, ordered, want) in table {
            let mut err = ApiError::new(
                classify_status(status, code),
                Failure::Status,
                "CreateProductOrders",
                message,
            );
            err.http_status = Some(status);
            err.code = code.map(str::to_owned);
            assert_eq!(
                err.order_refusal(ordered),
                want,
                "{status} {code:?} {message} {ordered:?}"
            );
        }
        // Only a server's answer can say "already opened": a timeout's text is our own.
        let timeout = ApiError::new(
            ErrorKind::Ambiguous,
            Failure::Timeout,
            "CreateProductOrders",
            "no complete response in time: already opened",
        );
        assert_eq!(timeout.order_refusal(both), OrderRefusal::Ambiguous);
        let throttled = ApiError::new(ErrorKind::RetrySafe, Failure::Status, "CreateProductOrders", "m");
        assert_eq!(throttled.order_refusal(both), OrderRefusal::NotBought);
    }

    #[test]
    fn the_pop_error_shape_and_a_ram_denial() {
        let none = RequestMaterial::none();
        let pop = ErrorBody::parse(
            br#"{"RequestId":"6BE5","HostId":"aiworkspace.cn-hangzhou.aliyuncs.com","Code":"InvalidAction.NotFound","Message":"Specified api is not found","Recommend":"https://api.aliyun.com/troubleshoot?q=InvalidAction.NotFound"}"#,
            &none,
        );
        assert_eq!(pop.host_id.as_deref(), Some("aiworkspace.cn-hangzhou.aliyuncs.com"));
        assert_eq!(
            pop.recommend.as_deref(),
            Some("https://api.aliyun.com/troubleshoot?q=InvalidAction.NotFound")
        );
        assert_eq!(pop.access_denied(), None);
        let ram = ErrorBody::parse(
            br#"{"code":"Forbidden.RAM","message":"User not authorized","requestId":"E78A",
                "accessDeniedDetail":{"AuthAction":"paiworkspace:CreateProductOrders","AuthPrincipalDisplayName":"ci-role:runner","AuthPrincipalOwnerId":"11","AuthPrincipalType":"AssumedRoleUser","NoPermissionType":"ImplicitDeny","PolicyType":"AccountLevelIdentityBasedPolicy","EncodedDiagnosticMessage":"AQEAAAAAZ"}}"#,
            &none,
        );
        let detail = ram.access_denied().unwrap_or_default();
        assert_eq!(detail.auth_action.as_deref(), Some("paiworkspace:CreateProductOrders"));
        assert_eq!(detail.encoded_diagnostic_message.as_deref(), Some("AQEAAAAAZ"));
        let mut err = ApiError::new(
            ErrorKind::Permanent,
            Failure::Status,
            "CreateProductOrders",
            "User not authorized",
        );
        err.http_status = Some(403);
        err.code = ram.code;
        err.access_denied = Some(detail);
        assert_eq!(
            err.to_string(),
            "CreateProductOrders failed: User not authorized; RAM denied action paiworkspace:CreateProductOrders \
             (principal AssumedRoleUser ci-role:runner, ImplicitDeny, AccountLevelIdentityBasedPolicy) \
             (HTTP 403, Code Forbidden.RAM, permanent)"
        );
        let empty = ErrorBody::parse(br#"{"Code":"Forbidden","AccessDeniedDetail":{}}"#, &none);
        assert_eq!(empty.access_denied(), None);
    }

    #[test]
    fn error_bodies_are_cleaned_of_request_material() {
        let mut material = RequestMaterial::none();
        material.add("TOKEN-abc");
        let body = br#"{"Code":"SignatureDoesNotMatch","Message":"not matched. server string to sign is:GET\nx-acs-security-token:TOKEN-abc\n/api/v1/productorders","RequestId":"R","AccessDeniedDetail":{"AuthAction":"a TOKEN-abc"}}"#;
        let parsed = ErrorBody::parse(body, &material);
        assert_eq!(
            parsed.message.as_deref(),
            Some("not matched. server string to sign is: [removed]")
        );
        assert_eq!(
            parsed.access_denied().and_then(|d| d.auth_action),
            Some("a ***".to_owned())
        );
        let html = format!("<p>{}TOKEN-abc</p>", "x".repeat(190));
        let parsed = ErrorBody::parse(html.as_bytes(), &material);
        let message = parsed.message.unwrap_or_default();
        assert!(!message.contains("TOKEN") && message.contains("***"), "{message}");
    }

    #[test]
    fn display_carries_the_details() {
        let mut err = ApiError::new(
            ErrorKind::Permanent,
            Failure::Status,
            "CreateProductOrders",
            "bad product",
        );
        err.http_status = Some(400);
        err.code = Some("InvalidParameter".into());
        err.request_id = Some("RID-1".into());
        err.attempts = 1;
        assert_eq!(
            err.to_string(),
            "CreateProductOrders failed: bad product (HTTP 400, Code InvalidParameter, RequestId RID-1, permanent)"
        );
        err.attempts = 3;
        err.kind = ErrorKind::Ambiguous;
        assert!(err.to_string().ends_with("ambiguous, 3 attempts)"));
        assert!(err.is_ambiguous());
    }

    #[test]
    fn error_bodies() {
        let none = RequestMaterial::none();
        let parsed = ErrorBody::parse(br#"{"RequestId":"R","Code":"C","Message":"M"}"#, &none);
        assert_eq!(
            (
                parsed.code.as_deref(),
                parsed.message.as_deref(),
                parsed.request_id.as_deref()
            ),
            (Some("C"), Some("M"), Some("R"))
        );
        let lower = ErrorBody::parse(br#"{"requestId":"r","code":"c","message":"m"}"#, &none);
        assert_eq!(lower.request_id.as_deref(), Some("r"));
        let html = ErrorBody::parse(b"<html>Bad Gateway</html>", &none);
        assert_eq!(
            html.message.as_deref(),
            Some("non-JSON response: <html>Bad Gateway</html>")
        );
        assert!(ErrorBody::parse(b"", &none).message.is_none());
    }
}
