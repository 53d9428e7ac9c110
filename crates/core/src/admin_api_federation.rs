//! Wire shapes of federated credentials (`/admin/v1/service-principals/{key}/federated-credentials`)
//! and of the federated exchange (`POST /oauth2/exchange`), shared by the server and the
//! clients; the contracts of [`crate::admin_api`] apply.

use serde::{Deserialize, Serialize};

/// `POST /admin/v1/service-principals/{key}/federated-credentials`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CreateFederatedCredential {
    /// Unique per principal.
    pub name: String,
    /// The token issuer, exactly as its `iss`.
    pub issuer: String,
    /// The token subject, exactly as its `sub`.
    pub subject: String,
    /// An audience the token must carry.
    pub audience: String,
    /// Free text.
    pub description: Option<String>,
}

/// A federated credential as `az ad app federated-credential show` prints it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FederatedCredentialView {
    /// Its ID.
    pub id: String,
    /// The principal's application ID.
    pub app_id: String,
    /// Its name.
    pub name: String,
    /// The issuer.
    pub issuer: String,
    /// The subject.
    pub subject: String,
    /// The audiences (one).
    pub audiences: Vec<String>,
    /// Free text.
    pub description: Option<String>,
    /// When it was created.
    pub created_date_time: String,
}

/// `grant_type` of ACR's exchange form: `grant_type=access_token&service=S&access_token=JWT`.
pub const GRANT_ACCESS_TOKEN: &str = "access_token";
/// `grant_type` of RFC 8693's form: `subject_token=JWT&subject_token_type=…`.
pub const GRANT_TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
/// The `subject_token_type`s accepted (RFC 8693 §3).
pub const SUBJECT_TOKEN_TYPES: [&str; 3] = [
    "urn:ietf:params:oauth:token-type:jwt",
    "urn:ietf:params:oauth:token-type:id_token",
    "urn:ietf:params:oauth:token-type:access_token",
];
/// `issued_token_type` of the RFC 8693 answer: Berth issues a refresh token.
pub const ISSUED_REFRESH_TOKEN: &str = "urn:ietf:params:oauth:token-type:refresh_token";

/// The answer of `POST /oauth2/exchange` to a federated token. The ACR form reads
/// `refresh_token`; RFC 8693 clients read `access_token` and `issued_token_type` (the same
/// refresh token, `token_type` `N_A` as §2.2.1 allows for a token that is not an access token).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FederatedExchangeAnswer {
    /// The refresh token: the password of the null-GUID username.
    pub refresh_token: String,
    /// Seconds the refresh token lives.
    pub expires_in: u64,
    /// The same refresh token (RFC 8693 form only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_token: Option<String>,
    /// [`ISSUED_REFRESH_TOKEN`] (RFC 8693 form only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issued_token_type: Option<String>,
    /// `N_A` (RFC 8693 form only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_type: Option<String>,
}
