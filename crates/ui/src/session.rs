//! Signing in and out, and who a request is.
//!
//! Signing in takes any credential Berth knows (a principal's appId and secret or federated
//! token, a repository token, the admin user), checked by the same function as Basic auth on
//! `/v2/` (with its failure limits and audit). The browser then holds `berth_session`, a
//! random secret (HttpOnly, SameSite=Strict, `Secure` under TLS, `Max-Age` the session's
//! life); the identity store keeps only its hash and revalidates the credential on every
//! request. Without a session a request is anonymous, which sees something only when
//! anonymous pull is on; otherwise it is sent to sign in.
//!
//! CSRF: every form of a signed-in page carries [`csrf_token`] of the session; the sign-in
//! form, before any session, carries that of a random `berth_signin` cookie set with it (a
//! double-submit token), so another site can neither sign a browser in nor act for it.

use crate::UiConfig;
use crate::error::UiError;
use crate::format::{Nav, render};
use askama::Template;
use axum::Extension;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Redirect, Response};
use berth_core::roles::Permissions;
use berth_registry::auth::{AuthError, csrf_matches, csrf_token, secret};
use berth_server::AppState;
use berth_server::admin_endpoint::AdminEndpoint;
use berth_server::auth::{Caller, authorize_admin, check_basic};
use berth_server::body::read_to_limit;
use berth_server::error::ApiError;
use berth_server::handlers::ClientAddr;
use http::{HeaderMap, HeaderValue, header};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

/// The session cookie.
pub const SESSION_COOKIE: &str = "berth_session";
/// The sign-in form's double-submit cookie.
pub const SIGN_IN_COOKIE: &str = "berth_signin";
/// Largest form body read, in bytes.
const MAX_FORM: usize = 16 * 1024;

/// Who is asking, and how their forms prove they come from this UI.
pub struct Viewer {
    /// The caller, for the authorisation point.
    pub caller: Caller,
    /// The session's secret, when signed in.
    session: Option<String>,
    /// Whether the caller may manage the registry (the admin endpoints' Owner rule).
    manage: bool,
}

impl Viewer {
    /// The navigation bar for this viewer.
    pub fn nav(&self) -> Nav {
        match &self.session {
            Some(s) => Nav { who: Some(self.caller.subject().to_owned()), csrf: csrf_token(s), manage: self.manage },
            None => Nav::none(),
        }
    }

    /// Refuses a form without this session's CSRF token (anonymous viewers post nothing).
    pub fn check_csrf(&self, form: &Form) -> Result<(), UiError> {
        match (&self.session, form.get("csrf")) {
            (Some(s), Some(t)) if csrf_matches(s, t) => Ok(()),
            _ => Err(UiError::Forbidden("the form is stale or from another site; reload the page".into())),
        }
    }
}

/// A posted form's fields (the first value of each).
pub struct Form(HashMap<String, String>);

impl Form {
    /// Reads an `application/x-www-form-urlencoded` body of at most 16 KiB.
    pub async fn read(body: Body) -> Result<Form, UiError> {
        Self::read_limited(body, MAX_FORM).await
    }

    /// [`Form::read`] for forms that carry pasted documents: at most `max` bytes.
    pub async fn read_limited(body: Body, max: usize) -> Result<Form, UiError> {
        let bytes = read_to_limit(body, max, max)
            .await
            .map_err(|_| UiError::BadRequest("the form is too large or was cut off".into()))?;
        let mut fields = HashMap::new();
        for (k, v) in form_urlencoded::parse(&bytes) {
            fields.entry(k.into_owned()).or_insert_with(|| v.into_owned());
        }
        Ok(Form(fields))
    }

    /// A field's value.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }
}

/// The value of cookie `name`, if the request carries it.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find_map(|(k, v)| (k == name).then_some(v))
}

fn set_cookie(config: &UiConfig, name: &str, value: &str, max_age: i64) -> HeaderValue {
    let secure = if config.secure_cookies { "; Secure" } else { "" };
    let v = format!("{name}={value}; Path=/ui; HttpOnly; SameSite=Strict; Max-Age={}{secure}", max_age.max(0));
    HeaderValue::from_str(&v).unwrap_or_else(|_| HeaderValue::from_static(""))
}

fn remote(req_headers: &http::Extensions) -> IpAddr {
    req_headers.get::<ClientAddr>().map_or(std::net::Ipv4Addr::LOCALHOST.into(), |c| c.0)
}

/// The viewer of a request: its session's caller, or anonymous when anonymous pull is on.
/// A session that ended (or a credential that stopped being valid) sends the browser to sign
/// in, as does no session while anonymous pull is off.
pub async fn viewer(st: &AppState, headers: &HeaderMap) -> Result<Viewer, UiError> {
    if let Some(secret) = cookie(headers, SESSION_COOKIE) {
        return match st.auth.session(secret).await {
            Ok(a) => {
                let caller = Caller::Basic(a);
                let manage = authorize_admin(caller.clone(), AdminEndpoint::ListPrincipals, &st.challenge).is_ok();
                Ok(Viewer { caller, session: Some(secret.to_owned()), manage })
            }
            Err(AuthError::BadCredentials | AuthError::Disabled | AuthError::Federated(_)) => Err(UiError::SignIn),
            Err(e) => Err(ApiError::store_failure(e).into()),
        };
    }
    let permissions = st.auth.anonymous().await.map_err(|e| ApiError::store_failure(e.into()))?;
    if permissions == Permissions::default() {
        return Err(UiError::SignIn);
    }
    Ok(Viewer { caller: Caller::Anonymous { permissions }, session: None, manage: false })
}

#[derive(Template)]
#[template(path = "sign_in.html")]
struct SignInPage {
    nav: Nav,
    csrf: String,
    username: String,
    refusal: Option<String>,
}

fn sign_in_page(config: &UiConfig, username: &str, refusal: Option<String>) -> Result<Response, UiError> {
    let nonce = secret::generate();
    let page = SignInPage { nav: Nav::none(), csrf: csrf_token(&nonce), username: username.to_owned(), refusal };
    let mut response = render(&page)?;
    response.headers_mut().append(header::SET_COOKIE, set_cookie(config, SIGN_IN_COOKIE, &nonce, 600));
    Ok(response)
}

/// `GET /ui/sign-in`.
pub async fn sign_in_form(Extension(config): Extension<Arc<UiConfig>>) -> Result<Response, UiError> {
    sign_in_page(&config, "", None)
}

/// `POST /ui/sign-in`: checks the credential as Basic auth would, then starts a session.
pub async fn sign_in(
    State(st): State<Arc<AppState>>,
    Extension(config): Extension<Arc<UiConfig>>,
    req: Request,
) -> Result<Response, UiError> {
    let (parts, body) = req.into_parts();
    let form = Form::read(body).await?;
    let nonce = cookie(&parts.headers, SIGN_IN_COOKIE).unwrap_or("");
    if nonce.is_empty() || !form.get("csrf").is_some_and(|t| csrf_matches(nonce, t)) {
        return Err(UiError::Forbidden("the sign-in form is stale or from another site; reload it".into()));
    }
    let (user, pass) = (form.get("username").unwrap_or("").trim(), form.get("password").unwrap_or(""));
    if user.is_empty() || pass.is_empty() {
        return sign_in_page(&config, user, Some("enter a username and a password".into()));
    }
    let at = remote(&parts.extensions);
    let checked =
        check_basic(&st.auth, &st.limiter, at, user, pass, || ApiError::new(berth_core::ErrorCode::Unauthorized)).await;
    let a = match checked {
        Ok(a) => a,
        Err(e) => match UiError::from(e) {
            UiError::SignIn => return sign_in_page(&config, user, Some("invalid username or password".into())),
            UiError::Forbidden(s) | UiError::Throttled(s) => return sign_in_page(&config, user, Some(s)),
            other => return Err(other),
        },
    };
    let session =
        st.auth.start_session(&a, config.session_secs).await.map_err(|e| UiError::from(ApiError::store_failure(e)))?;
    st.auth.audit(&a.subject, "ui.sign-in", st.auth.service(), &at.to_string()).await;
    let max_age = session.expires_at - berth_core::principals::now_secs();
    let mut response = Redirect::to("/ui/").into_response();
    let h = response.headers_mut();
    h.append(header::SET_COOKIE, set_cookie(&config, SESSION_COOKIE, &session.secret, max_age));
    h.append(header::SET_COOKIE, set_cookie(&config, SIGN_IN_COOKIE, "", 0));
    Ok(response)
}

/// `POST /ui/sign-out`: ends the session (in the store, so the cookie is refused from now on
/// wherever it is presented) and clears the cookie.
pub async fn sign_out(
    State(st): State<Arc<AppState>>,
    Extension(config): Extension<Arc<UiConfig>>,
    req: Request,
) -> Result<Response, UiError> {
    let (parts, body) = req.into_parts();
    let form = Form::read(body).await?;
    let who = viewer(&st, &parts.headers).await?;
    who.check_csrf(&form)?;
    if let Some(s) = &who.session {
        st.auth.end_session(s).await.map_err(|e| UiError::from(ApiError::store_failure(e)))?;
        st.auth
            .audit(who.caller.subject(), "ui.sign-out", st.auth.service(), &remote(&parts.extensions).to_string())
            .await;
    }
    let mut response = Redirect::to("/ui/sign-in").into_response();
    response.headers_mut().append(header::SET_COOKIE, set_cookie(&config, SESSION_COOKIE, "", 0));
    Ok(response)
}
