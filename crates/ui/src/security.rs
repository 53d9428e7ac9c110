//! Headers on every UI response, and the refusal of cross-site state changes.
//!
//! The Content-Security-Policy allows only the UI's own stylesheet and script (no inline
//! script or style, no other origin, no plugins, no framing, forms posting only here).
//! A request that changes state (any method but GET and HEAD) is refused with 403 when the
//! browser says it comes from another site (`Sec-Fetch-Site`) or another origin (`Origin`);
//! the per-session CSRF token every form carries ([`crate::session`]) is checked besides, for
//! browsers that send neither header. The referrer policy is `same-origin`, not `no-referrer`:
//! under `no-referrer` browsers send `Origin: null` on the UI's own form posts.

use crate::error::UiError;
use axum::extract::Request;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderValue, Method, header};

/// The policy every page is served under.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
     connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// Whether a state-changing request comes from this origin, as far as the browser tells.
pub fn same_origin(headers: &HeaderMap) -> bool {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(site) = text("sec-fetch-site")
        && !matches!(site, "same-origin" | "none")
    {
        return false;
    }
    match (text("origin"), text("host")) {
        (None, _) => true,
        (Some(origin), Some(host)) => {
            origin.strip_prefix("https://").or_else(|| origin.strip_prefix("http://")) == Some(host)
        }
        (Some(_), None) => false,
    }
}

/// The UI's middleware: refuses cross-site state changes, then sets the security headers.
pub async fn guard(req: Request, next: Next) -> Response {
    let changes_state = req.method() != Method::GET && req.method() != Method::HEAD;
    let mut response = if changes_state && !same_origin(req.headers()) {
        UiError::Forbidden("a form of another site cannot act here".into()).into_response()
    } else {
        next.run(req).await
    };
    let h = response.headers_mut();
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    h.entry(header::CACHE_CONTROL).or_insert(HeaderValue::from_static("no-store"));
    response
}

#[cfg(test)]
mod tests {
    use super::same_origin;
    use http::HeaderMap;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn only_this_origin_may_post() {
        assert!(same_origin(&headers(&[("host", "reg:5000"), ("origin", "http://reg:5000")])));
        assert!(same_origin(&headers(&[("host", "reg:5000"), ("sec-fetch-site", "same-origin")])));
        assert!(same_origin(&headers(&[("host", "reg:5000")])), "no header: the CSRF token decides");
        assert!(!same_origin(&headers(&[("host", "reg:5000"), ("origin", "http://evil.example")])));
        assert!(!same_origin(&headers(&[("host", "reg:5000"), ("origin", "null")])));
        assert!(!same_origin(&headers(&[("host", "reg:5000"), ("sec-fetch-site", "cross-site")])));
        assert!(!same_origin(&headers(&[("host", "reg:5000"), ("sec-fetch-site", "same-site")])));
    }
}
