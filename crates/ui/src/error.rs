//! What a page answers when it cannot show what was asked: an HTML page with the status the
//! registry API would give, or a redirect to sign in.

use crate::format::Nav;
use askama::Template;
use axum::response::{Html, IntoResponse, Redirect, Response};
use berth_server::error::ApiError;
use http::StatusCode;

/// A page that cannot be shown.
#[derive(Debug)]
pub enum UiError {
    /// Nobody is signed in (or the session ended) and anonymous browsing is off.
    SignIn,
    /// Bad input: 400 with a sentence.
    BadRequest(String),
    /// The caller may not see or do this: 403.
    Forbidden(String),
    /// No such repository, manifest or page: 404.
    NotFound(String),
    /// Too many failed sign-ins: 429.
    Throttled(String),
    /// A store is away or something broke: the status and sentence of the API's answer.
    Failed(StatusCode, String),
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    nav: Nav,
    status: u16,
    reason: &'static str,
    sentence: String,
}

impl From<ApiError> for UiError {
    fn from(e: ApiError) -> Self {
        let sentence = e.detail.clone().unwrap_or_else(|| e.code.message().to_owned());
        match e.code.status() {
            401 => UiError::SignIn,
            403 => UiError::Forbidden(sentence),
            404 => UiError::NotFound(sentence),
            429 => UiError::Throttled(sentence),
            400 => UiError::BadRequest(sentence),
            s => UiError::Failed(StatusCode::from_u16(s).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR), sentence),
        }
    }
}

impl From<berth_registry::RegistryError> for UiError {
    fn from(e: berth_registry::RegistryError) -> Self {
        ApiError::from(e).into()
    }
}

impl From<berth_registry::admin::AdminError> for UiError {
    fn from(e: berth_registry::admin::AdminError) -> Self {
        ApiError::from(e).into()
    }
}

impl IntoResponse for UiError {
    fn into_response(self) -> Response {
        let (status, sentence) = match self {
            UiError::SignIn => return Redirect::to("/ui/sign-in").into_response(),
            UiError::BadRequest(s) => (StatusCode::BAD_REQUEST, s),
            UiError::Forbidden(s) => (StatusCode::FORBIDDEN, s),
            UiError::NotFound(s) => (StatusCode::NOT_FOUND, s),
            UiError::Throttled(s) => (StatusCode::TOO_MANY_REQUESTS, s),
            UiError::Failed(status, s) => (status, s),
        };
        let page = ErrorPage {
            nav: Nav::none(),
            status: status.as_u16(),
            reason: status.canonical_reason().unwrap_or("error"),
            sentence,
        };
        match page.render() {
            Ok(html) => (status, Html(html)).into_response(),
            Err(e) => {
                tracing::error!(error = %e, "the error page did not render");
                status.into_response()
            }
        }
    }
}
