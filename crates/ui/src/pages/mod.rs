//! The pages. Each handler finds its viewer, asks the server's authorisation point for the
//! OCI endpoint the page stands for (so it shows exactly what the registry API would give
//! that caller), reads through the registry service, and renders a template.

pub mod audit;
pub mod connect;
pub mod delete;
pub mod doctor;
pub mod locks;
pub mod manifest;
pub mod principals;
pub mod repos;
pub mod settings;
pub mod status;
pub mod tags;
pub mod tokens;

use crate::error::UiError;
use crate::session::{Form, Viewer, viewer};
use axum::extract::Request;
use berth_core::RepoName;
use berth_registry::admin::IdentityAdmin;
use berth_server::AppState;
use berth_server::admin_endpoint::AdminEndpoint;
use berth_server::auth::{AdminAuthorized, Authorized, Caller, authorize, authorize_admin};
use berth_server::endpoint::Endpoint;
use berth_server::handlers::ClientAddr;
use http::request::Parts;
use http::{Extensions, Uri};

/// The query parameters of a page (the first value of each).
pub struct Params(Vec<(String, String)>);

impl Params {
    /// Parses the query of `uri`.
    pub fn of(uri: &Uri) -> Self {
        Params(form_urlencoded::parse(uri.query().unwrap_or("").as_bytes()).into_owned().collect())
    }

    /// A parameter's value, if present and not empty.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.iter().find(|(k, v)| k == key && !v.is_empty()).map(|(_, v)| v.as_str())
    }

    /// The repository named by `name`.
    pub fn repo(&self) -> Result<RepoName, UiError> {
        let name = self.get("name").ok_or_else(|| UiError::BadRequest("no repository named".into()))?;
        RepoName::parse(name).map_err(|_| UiError::BadRequest(format!("{name:?} is not a repository name")))
    }
}

/// The one authorisation point, for a page standing for `endpoint`. The API's 401 to a
/// caller who lacks the scope becomes 403 for someone signed in (signing in again would not
/// help), and sign-in for an anonymous visitor.
pub fn allow(st: &AppState, who: &Viewer, endpoint: Endpoint) -> Result<Authorized, UiError> {
    authorize(who.caller.clone(), endpoint, &st.challenge).map_err(|e| refused(who, e.into()))
}

/// [`allow`] for a management page: the admin endpoint it stands for (Owner at registry
/// scope, as for `/admin/v1/…`).
pub fn admin_allow(st: &AppState, who: &Viewer, endpoint: AdminEndpoint) -> Result<AdminAuthorized, UiError> {
    authorize_admin(who.caller.clone(), endpoint, &st.challenge).map_err(|e| refused(who, e.into()))
}

/// The identity service acting for the viewer, once `endpoint` is authorised.
pub fn admin_for<'a>(
    st: &'a AppState,
    who: &'a Viewer,
    endpoint: AdminEndpoint,
    remote: &'a str,
) -> Result<IdentityAdmin<'a>, UiError> {
    admin_allow(st, who, endpoint)?;
    Ok(st.auth.admin(who.caller.subject(), remote))
}

fn refused(who: &Viewer, e: UiError) -> UiError {
    match (e, &who.caller) {
        (UiError::SignIn, Caller::Anonymous { .. }) => UiError::SignIn,
        (UiError::SignIn, _) => UiError::Forbidden("your credential does not allow this".into()),
        (other, _) => other,
    }
}

/// A posted form (at most `max` bytes; [`Form::read`]'s 16 KiB when `None`), its viewer with
/// the form's CSRF token checked, and the client's address.
pub async fn posted_with(
    st: &AppState,
    req: Request,
    max: Option<usize>,
) -> Result<(Parts, Form, Viewer, String), UiError> {
    let (parts, body) = req.into_parts();
    let form = match max {
        Some(max) => Form::read_limited(body, max).await?,
        None => Form::read(body).await?,
    };
    let who = viewer(st, &parts.headers).await?;
    who.check_csrf(&form)?;
    let at = remote(&parts.extensions);
    Ok((parts, form, who, at))
}

/// [`posted_with`] for an ordinary form.
pub async fn posted(st: &AppState, req: Request) -> Result<(Parts, Form, Viewer, String), UiError> {
    posted_with(st, req, None).await
}

/// A form field's value, trimmed, if not empty.
pub fn field(form: &Form, key: &str) -> Option<String> {
    form.get(key).map(str::trim).filter(|v| !v.is_empty()).map(str::to_owned)
}

/// The client's address as the server saw it (for audit records).
pub fn remote(ext: &Extensions) -> String {
    ext.get::<ClientAddr>().map_or_else(|| "127.0.0.1".into(), |c| c.0.to_string())
}
