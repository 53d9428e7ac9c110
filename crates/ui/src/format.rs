//! What every page shares: the navigation bar (who is signed in, and the sign-out form with
//! its CSRF token), sizes and times written for people, and rendering a template.

use crate::error::UiError;
use askama::Template;
use axum::response::{Html, IntoResponse, Response};

/// The navigation bar's view of the caller.
#[derive(Debug, Clone, Default)]
pub struct Nav {
    /// Who is signed in, if anyone (`anonymous` browsing shows a sign-in link instead).
    pub who: Option<String>,
    /// The CSRF token the page's forms carry (empty without a session).
    pub csrf: String,
    /// Whether the viewer may manage the registry (Owner at registry scope), so the
    /// management pages are linked.
    pub manage: bool,
}

impl Nav {
    /// Nobody known (error pages).
    pub fn none() -> Self {
        Nav::default()
    }
}

/// `bytes` as a person reads them (binary units, one decimal), e.g. `12.5 MiB`.
pub fn size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut v = bytes as f64 / 1024.0;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    format!("{v:.1} {}", UNITS[unit])
}

/// Seconds since the epoch as `2026-12-07 14:03 UTC`.
pub fn time(secs: i64) -> String {
    jiff::Timestamp::from_second(secs).map_or_else(|_| "?".into(), |t| t.strftime("%Y-%m-%d %H:%M UTC").to_string())
}

/// A digest shortened for a table cell: the algorithm and 12 hex digits.
pub fn short(digest: &str) -> String {
    match digest.split_once(':') {
        Some((alg, hex)) => format!("{alg}:{}", &hex[..hex.len().min(12)]),
        None => digest.chars().take(19).collect(),
    }
}

/// Renders a page, or a 500 page when the template fails.
pub fn render(page: &impl Template) -> Result<Response, UiError> {
    match page.render() {
        Ok(html) => Ok(Html(html).into_response()),
        Err(e) => {
            tracing::error!(error = %e, "a page did not render");
            Err(UiError::Failed(http::StatusCode::INTERNAL_SERVER_ERROR, "the page could not be rendered".into()))
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn sizes_and_times_read_well() {
        assert_eq!(super::size(0), "0 B");
        assert_eq!(super::size(1023), "1023 B");
        assert_eq!(super::size(1536), "1.5 KiB");
        assert_eq!(super::size(5 * 1024 * 1024 * 1024), "5.0 GiB");
        assert_eq!(super::time(0), "1970-01-01 00:00 UTC");
        assert_eq!(super::short("sha256:0123456789abcdef"), "sha256:0123456789ab");
    }
}
