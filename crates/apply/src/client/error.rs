//! API failures, classified for the executor by what the server may have done.

use std::fmt;

use serde::Deserialize;

/// What a failure means for a request that costs money.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The server did not act: nothing was sent (connection refused, DNS), or it refused the
    /// request unprocessed (HTTP 429, a `Throttling` code, 408). Sending again is safe.
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

    pub fn is_throttling(&self) -> bool {
        self.http_status == Some(429) || self.code.as_deref().is_some_and(is_throttling_code)
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} failed: {}", self.action, self.message)?;
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

fn is_throttling_code(code: &str) -> bool {
    code.contains("Throttling")
}

/// Classify an error status and its `Code`.
pub fn classify_status(status: u16, code: Option<&str>) -> ErrorKind {
    if status == 429 || status == 408 || code.is_some_and(is_throttling_code) {
        ErrorKind::RetrySafe
    } else if (500..600).contains(&status) {
        ErrorKind::Ambiguous
    } else {
        ErrorKind::Permanent
    }
}

/// An error body, `{"RequestId","Code","Message"}`, read as tolerantly as the SDK reads it.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct ErrorBody {
    #[serde(rename = "Code", alias = "code")]
    pub code: Option<String>,
    #[serde(rename = "Message", alias = "message")]
    pub message: Option<String>,
    #[serde(rename = "RequestId", alias = "requestId", alias = "requestid")]
    pub request_id: Option<String>,
}

impl ErrorBody {
    /// Parse an error response body; a non-JSON body (a proxy's HTML page) becomes a short message.
    pub(crate) fn parse(body: &[u8]) -> ErrorBody {
        match serde_json::from_slice::<ErrorBody>(body) {
            Ok(parsed) => parsed,
            Err(_) => {
                let text = String::from_utf8_lossy(body);
                let snippet: String = text.trim().chars().take(200).collect();
                ErrorBody {
                    message: (!snippet.is_empty()).then(|| format!("non-JSON response: {snippet}")),
                    ..ErrorBody::default()
                }
            }
        }
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
        let parsed = ErrorBody::parse(br#"{"RequestId":"R","Code":"C","Message":"M"}"#);
        assert_eq!(
            (
                parsed.code.as_deref(),
                parsed.message.as_deref(),
                parsed.request_id.as_deref()
            ),
            (Some("C"), Some("M"), Some("R"))
        );
        let lower = ErrorBody::parse(br#"{"requestId":"r","code":"c","message":"m"}"#);
        assert_eq!(lower.request_id.as_deref(), Some("r"));
        let html = ErrorBody::parse(b"<html>Bad Gateway</html>");
        assert_eq!(
            html.message.as_deref(),
            Some("non-JSON response: <html>Bad Gateway</html>")
        );
        assert!(ErrorBody::parse(b"").message.is_none());
    }
}
