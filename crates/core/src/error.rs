//! The one table of OCI distribution error codes: code, message and HTTP status.

use serde::{Deserialize, Serialize};

/// An error code of the OCI Distribution Spec (code-1 … code-14) plus distribution's
/// `RANGE_INVALID`, `PAGINATION_NUMBER_INVALID` and `UNKNOWN`, and `UNAVAILABLE` for 503.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ErrorCode {
    /// code-1
    BlobUnknown,
    /// code-2
    BlobUploadInvalid,
    /// code-3
    BlobUploadUnknown,
    /// code-4
    DigestInvalid,
    /// code-5
    ManifestBlobUnknown,
    /// code-6
    ManifestInvalid,
    /// code-7
    ManifestUnknown,
    /// code-8
    NameInvalid,
    /// code-9
    NameUnknown,
    /// code-10
    SizeInvalid,
    /// code-11
    Unauthorized,
    /// code-12
    Denied,
    /// code-13
    Unsupported,
    /// code-14
    #[serde(rename = "TOOMANYREQUESTS")]
    TooManyRequests,
    /// A `Range`/`Content-Range` that does not fit the current state.
    RangeInvalid,
    /// `n` not a non-negative integer.
    PaginationNumberInvalid,
    /// A request body larger than the limit (413; the spec names the status, not a code).
    PayloadTooLarge,
    /// A malformed request outside the OCI API (token endpoint, admin API).
    InvalidRequest,
    /// A create that collides with something that exists (admin API): 409, nothing changed.
    Conflict,
    /// A dependency (storage, database) is unreachable.
    Unavailable,
    /// Anything else; details are only in the server log.
    Unknown,
}

impl ErrorCode {
    /// HTTP status the spec assigns.
    pub const fn status(self) -> u16 {
        use ErrorCode::*;
        match self {
            BlobUnknown | BlobUploadUnknown | ManifestUnknown | NameUnknown => 404,
            BlobUploadInvalid
            | DigestInvalid
            | ManifestBlobUnknown
            | ManifestInvalid
            | NameInvalid
            | SizeInvalid
            | PaginationNumberInvalid
            | InvalidRequest => 400,
            Unauthorized => 401,
            Denied => 403,
            Unsupported => 405,
            Conflict => 409,
            TooManyRequests => 429,
            RangeInvalid => 416,
            PayloadTooLarge => 413,
            Unavailable => 503,
            Unknown => 500,
        }
    }

    /// The spec's message.
    pub const fn message(self) -> &'static str {
        use ErrorCode::*;
        match self {
            BlobUnknown => "blob unknown to registry",
            BlobUploadInvalid => "blob upload invalid",
            BlobUploadUnknown => "blob upload unknown to registry",
            DigestInvalid => "provided digest did not match uploaded content",
            ManifestBlobUnknown => "manifest references a manifest or blob unknown to registry",
            ManifestInvalid => "manifest invalid",
            ManifestUnknown => "manifest unknown to registry",
            NameInvalid => "invalid repository name",
            NameUnknown => "repository name not known to registry",
            SizeInvalid => "provided length did not match content length",
            Unauthorized => "authentication required",
            Denied => "requested access to the resource is denied",
            Unsupported => "the operation is unsupported",
            TooManyRequests => "too many requests",
            RangeInvalid => "invalid content range",
            PaginationNumberInvalid => "invalid number of results requested",
            PayloadTooLarge => "payload too large",
            InvalidRequest => "invalid request",
            Conflict => "resource already exists",
            Unavailable => "service unavailable",
            Unknown => "unknown error",
        }
    }
}
