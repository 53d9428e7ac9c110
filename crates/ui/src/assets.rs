//! The UI's static files, embedded in the binary: a stylesheet and one script. Served with
//! their content hash as `ETag` and cached for a day; nothing is fetched from anywhere else.

use axum::extract::Path;
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderValue, StatusCode, header};

/// The stylesheet.
pub const CSS: &str = include_str!("../assets/berth.css");
/// The script: copy buttons and confirmations (no inline script anywhere).
pub const JS: &str = include_str!("../assets/berth.js");

fn etag(body: &str) -> String {
    // FNV-1a: enough to tell two builds' files apart.
    let h = body.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3));
    format!("\"{h:016x}\"")
}

/// `GET /ui/assets/{name}`.
pub async fn serve(Path(name): Path<String>, headers: HeaderMap) -> Response {
    let (body, kind) = match name.as_str() {
        "berth.css" => (CSS, "text/css; charset=utf-8"),
        "berth.js" => (JS, "text/javascript; charset=utf-8"),
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    let tag = etag(body);
    let fresh = headers.get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()) == Some(tag.as_str());
    let status = if fresh { StatusCode::NOT_MODIFIED } else { StatusCode::OK };
    let mut response = if fresh { status.into_response() } else { (status, body).into_response() };
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=86400"));
    if let Ok(v) = HeaderValue::from_str(&tag) {
        h.insert(header::ETAG, v);
    }
    response
}
