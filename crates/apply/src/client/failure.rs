//! What went wrong, as an [`ApiError`]: an error response (its body parsed and cleaned), a
//! transport failure, or credentials that could not be had.

use super::error::{classify_response, ErrorBody};
use super::scrub::RequestMaterial;
use super::{ApiError, ErrorKind, Failure};
use crate::credentials::CredentialError;

/// An error status and its body. Every text in it passes through `material` first: this is
/// where server text enters an `ApiError`.
pub(crate) fn status_error(
    action: &'static str,
    status: u16,
    body: &[u8],
    header_request_id: Option<String>,
    acs_retry_after: bool,
    material: &RequestMaterial,
) -> ApiError {
    let parsed = ErrorBody::parse(body, material);
    let access_denied = parsed.access_denied();
    let mut error = ApiError::new(
        classify_response(status, parsed.code.as_deref(), acs_retry_after),
        Failure::Status,
        action,
        parsed
            .message
            .unwrap_or_else(|| format!("HTTP {status} without an error message")),
    );
    error.http_status = Some(status);
    error.code = parsed.code;
    error.request_id = parsed.request_id.or(header_request_id);
    error.host_id = parsed.host_id;
    error.recommend = parsed.recommend;
    error.access_denied = access_denied;
    error
}

pub(crate) fn credential_failure(action: &'static str, e: &CredentialError) -> ApiError {
    let kind = if e.is_transient() {
        ErrorKind::RetrySafe
    } else {
        ErrorKind::Permanent
    };
    ApiError::new(kind, Failure::Credentials, action, e.to_string())
}

/// A reqwest error before a full response: refused connections are safe to retry, anything after
/// the connection was made may have reached the server.
pub(crate) fn transport_failure(
    action: &'static str,
    method: &str,
    url: &reqwest::Url,
    e: &reqwest::Error,
) -> ApiError {
    let (kind, failure) = if e.is_connect() {
        (ErrorKind::RetrySafe, Failure::Connect)
    } else if e.is_timeout() {
        (ErrorKind::Ambiguous, Failure::Timeout)
    } else if e.is_builder() {
        (ErrorKind::Permanent, Failure::Request)
    } else {
        (ErrorKind::Ambiguous, Failure::ConnectionLost)
    };
    let what = match failure {
        Failure::Connect => "cannot connect",
        Failure::Timeout => "no complete response in time",
        Failure::ConnectionLost => "connection lost before a complete response",
        _ => "cannot send the request",
    };
    let cause = reqwest_cause(e);
    ApiError::new(kind, failure, action, format!("{method} {url}: {what}: {cause}"))
}

/// A reqwest error's causes, without the URL its own `Display` would repeat.
fn reqwest_cause(e: &reqwest::Error) -> String {
    let mut text = String::new();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            if !text.is_empty() {
                text.push_str(": ");
            }
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    if text.is_empty() {
        text = if e.is_timeout() {
            "operation timed out".to_owned()
        } else {
            "no further detail".to_owned()
        };
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The real service's answers, from the status and body to the error the executor sees.
    #[test]
    fn service_answers() {
        let mut material = RequestMaterial::none();
        material.add("STS-TOKEN-1");
        let throttle = br#"{"Code":"Throttling.User","Message":"Request was denied due to user flow control.","RequestId":"A45E"}"#;
        let table: [(u16, &[u8], bool, ErrorKind, &str); 7] = [
            (400, throttle, true, ErrorKind::RetrySafe, "Request was denied due to user flow control."),
            (400, throttle, false, ErrorKind::RetrySafe, "Request was denied due to user flow control."),
            (400, br#"{"Code":"Busy","Message":"m"}"#, true, ErrorKind::RetrySafe, "m"),
            (404, br#"{"Code":"InvalidAction.NotFound","Message":"Specified api is not found"}"#, false, ErrorKind::Permanent, "Specified api is not found"),
            (500, br#"{"Code":"OrderFailed","Message":"business error"}"#, false, ErrorKind::Ambiguous, "business error"),
            (400, br#"{"Code":"SignatureDoesNotMatch","Message":"server string to sign is:GET\nx-acs-security-token:STS-TOKEN-1"}"#, false, ErrorKind::Permanent, "server string to sign is: [removed]"),
            (502, b"", false, ErrorKind::Ambiguous, "HTTP 502 without an error message"),
        ];
        for (status, body, header, kind, message) in table {
            let error = status_error(
                "CreateProductOrders",
                status,
                body,
                Some("HDR".into()),
                header,
                &material,
            );
            let case = String::from_utf8_lossy(body);
            assert_eq!((error.kind, error.message.as_str()), (kind, message), "{status} {case}");
            assert_eq!(error.http_status, Some(status));
            assert!(!format!("{error} {error:?}").contains("STS-TOKEN-1"), "{case}");
        }
        let from_body = status_error("ListProducts", 400, throttle, Some("HDR".into()), false, &material);
        assert_eq!(from_body.request_id.as_deref(), Some("A45E"));
        let from_header = status_error("ListProducts", 503, b"{}", Some("HDR".into()), false, &material);
        assert_eq!(from_header.request_id.as_deref(), Some("HDR"));
    }
}
