//! `ApiError`: the only error type that becomes an HTTP response.
//!
//! Policy: handlers return `Result<_, ApiError>`; every refusal is written as the spec's
//! `{"errors":[{"code","message","detail"}]}` with the status of its code, plus the headers the
//! code implies (`Range` on 416, `WWW-Authenticate` on 401, `Retry-After` on 429).
//!
//! An unreachable store answers 503 `UNAVAILABLE` (clients retry); damaged data, a broken
//! invariant or a bug answers 500 `UNKNOWN` naming the request ID that the log line and the
//! `X-Request-Id` header carry (clients do not retry a bug). Internal details are logged,
//! never sent. `anyhow` is not used here.

use crate::route::RouteError;
use axum::response::{IntoResponse, Response};
use berth_core::ErrorCode;
use berth_registry::RegistryError;
use berth_registry::admin::AdminError;
use berth_registry::auth::AuthError;
use http::{HeaderValue, StatusCode, header};
use serde_json::json;

/// A refusal, ready to be written.
#[derive(Debug)]
pub struct ApiError {
    /// The spec code; decides the status.
    pub code: ErrorCode,
    /// A sentence for the client (never a secret, never an internal path).
    pub detail: Option<String>,
    /// Extra headers.
    pub headers: Vec<(header::HeaderName, HeaderValue)>,
}

impl ApiError {
    /// An error with the code's own message and no detail.
    pub fn new(code: ErrorCode) -> Self {
        ApiError { code, detail: None, headers: Vec::new() }
    }

    /// Adds a detail sentence.
    pub fn detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    /// A server error: a bug, damaged data or a broken invariant, which a retry does not cure.
    /// The cause goes to the log under the request's ID; the client gets only that ID.
    pub fn internal(cause: &dyn std::fmt::Display) -> Self {
        let id = request_id();
        tracing::error!(request_id = %id, %cause, "internal error");
        ApiError::new(ErrorCode::Unknown)
            .detail(format!("an internal error; the server log names it by request ID {id}"))
    }

    /// The identity store failed while authenticating: 503 when it is unreachable, 500 when a
    /// stored identity does not decode; the cause goes to the log with the request ID.
    pub fn store_failure(e: AuthError) -> Self {
        match e {
            AuthError::Internal(cause) => ApiError::internal(&cause),
            other => {
                tracing::error!(request_id = %request_id(), cause = %other, "identity store unavailable");
                ApiError::new(ErrorCode::Unavailable)
            }
        }
    }

    /// Adds a header.
    pub fn header(mut self, name: header::HeaderName, value: HeaderValue) -> Self {
        self.headers.push((name, value));
        self
    }
}

impl From<RegistryError> for ApiError {
    fn from(e: RegistryError) -> Self {
        let code = e.code();
        match e {
            RegistryError::Unavailable(cause) => {
                tracing::error!(request_id = %request_id(), %cause, "storage or metadata unavailable");
                ApiError::new(code)
            }
            RegistryError::Internal(cause) => ApiError::internal(&cause),
            RegistryError::RangeInvalid { current } => {
                let range = if current == 0 { "0-0".to_owned() } else { format!("0-{}", current - 1) };
                ApiError::new(code)
                    .detail(format!("the upload holds {current} bytes; the next chunk must start there"))
                    .header(header::RANGE, HeaderValue::from_str(&range).expect("ascii"))
            }
            RegistryError::TooManyUploads(detail) => {
                // A slot frees when one of the uploads ends, which the server cannot foresee:
                // the minute asked for is a hint to back off, not a promise.
                ApiError::new(code).detail(detail).header(header::RETRY_AFTER, HeaderValue::from_static("60"))
            }
            RegistryError::BlobUnknown
            | RegistryError::UploadUnknown
            | RegistryError::ManifestUnknown
            | RegistryError::NameUnknown => ApiError::new(code),
            other => {
                let detail = other.to_string();
                ApiError::new(code).detail(detail)
            }
        }
    }
}

/// The one place an admin operation's refusal gets its status: not found 404, a taken name
/// or a lost race 409, a broken rule 400, a lock 403, an unreachable store 503 and damaged
/// data 500 (their causes logged under the request ID, not sent).
impl From<AdminError> for ApiError {
    fn from(e: AdminError) -> Self {
        let code = match &e {
            AdminError::NotFound(_) => ErrorCode::NameUnknown,
            AdminError::Conflict(_) => ErrorCode::Conflict,
            AdminError::Invalid(_) => ErrorCode::InvalidRequest,
            AdminError::Locked(_) => ErrorCode::Denied,
            AdminError::Unavailable(cause) => {
                tracing::error!(request_id = %request_id(), %cause, "identity store unavailable");
                return ApiError::new(ErrorCode::Unavailable);
            }
            AdminError::NotConfigured(_) => ErrorCode::Unavailable,
            AdminError::Internal(cause) => return ApiError::internal(cause),
        };
        ApiError::new(code).detail(e.to_string())
    }
}

/// The current request's ID as text, or `-` outside a request.
fn request_id() -> String {
    crate::request_id::current().map_or_else(|| "-".to_owned(), |id| id.to_string())
}

impl From<RouteError> for ApiError {
    fn from(e: RouteError) -> Self {
        match e {
            RouteError::NotFound => ApiError::new(ErrorCode::NameUnknown).detail("no such endpoint"),
            RouteError::NameInvalid => ApiError::new(ErrorCode::NameInvalid),
            RouteError::DigestInvalid => {
                ApiError::new(ErrorCode::DigestInvalid).detail("malformed or unsupported digest")
            }
            RouteError::ReferenceInvalid => {
                ApiError::new(ErrorCode::ManifestInvalid).detail("reference is neither a valid tag nor a digest")
            }
            RouteError::UploadUnknown => ApiError::new(ErrorCode::BlobUploadUnknown),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.code.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut error = json!({ "code": self.code, "message": self.code.message() });
        if let Some(detail) = self.detail {
            error["detail"] = json!(detail);
        }
        let body = json!({ "errors": [error] }).to_string();
        let mut response = (status, [(header::CONTENT_TYPE, "application/json")], body).into_response();
        for (name, value) in self.headers {
            response.headers_mut().append(name, value);
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_refusals_get_their_status_in_one_place() {
        let cases = [
            (AdminError::NotFound("token".into()), 404, Some("token not found")),
            (AdminError::Conflict("token t already exists".into()), 409, Some("token t already exists")),
            (AdminError::Invalid("name is required".into()), 400, Some("name is required")),
            (AdminError::Unavailable("db down at /var/lib/x".into()), 503, None),
            (
                AdminError::NotConfigured("configure cache.credential_key_file".into()),
                503,
                Some("configure cache.credential_key_file"),
            ),
        ];
        for (e, status, detail) in cases {
            let api = ApiError::from(e);
            assert_eq!((api.code.status(), api.detail.as_deref()), (status, detail));
        }
        let damaged = ApiError::from(AdminError::Internal("row 7 of principals does not decode".into()));
        assert_eq!(damaged.code, ErrorCode::Unknown);
        assert!(damaged.detail.is_some_and(|d| d.contains("request ID") && !d.contains("row 7")));
        let locked = ApiError::from(AdminError::Locked("repository a/b".into()));
        assert_eq!(locked.code, ErrorCode::Denied);
        assert!(locked.detail.is_some_and(|d| d.starts_with("repository a/b is locked")));
    }
}
