//! The one reader of a registry's error body, for every command and the Kubernetes doctor.
//!
//! The distribution spec's body is `{"errors":[{"code","message","detail"}]}`; `detail` may be
//! any JSON value. Token services and ACR's APIs also answer `{"details": "…"}` or OAuth's
//! `{"error","error_description"}`. Whatever the registry sent, what reaches a terminal is one
//! line with its control characters escaped, bounded in length: a registry cannot move the
//! cursor, colour the screen or flood it.

use reqwest::StatusCode;
use serde_json::Value;

/// At most this many characters of a registry's sentence are shown.
const MAX_CHARS: usize = 500;
/// The longest error body read; a longer one is dropped unread past this.
pub const MAX_BODY: usize = 64 * 1024;

/// A refusal as the registry worded it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The HTTP status.
    pub status: StatusCode,
    /// The spec error code of the first error (`MANIFEST_UNKNOWN`), if one was sent.
    pub code: Option<String>,
    /// The registry's sentence: the first error's detail, else its message, else a
    /// token service's description; escaped for a terminal.
    pub sentence: Option<String>,
    /// The server's request ID (`X-Request-Id`), which its log line carries too.
    pub request_id: Option<String>,
}

impl Refusal {
    /// Reads the body of a refused response, at most [`MAX_BODY`] bytes of it (an unreadable,
    /// longer or non-JSON body leaves only the status): a registry cannot make a client hold
    /// an endless error body.
    pub async fn read(mut r: reqwest::Response) -> Refusal {
        let status = r.status();
        let request_id = r.headers().get("x-request-id").and_then(|v| v.to_str().ok()).map(printable);
        let mut body = Vec::new();
        while let Ok(Some(chunk)) = r.chunk().await {
            if body.len() + chunk.len() > MAX_BODY {
                body.clear();
                break;
            }
            body.extend_from_slice(&chunk);
        }
        Refusal { request_id, ..Refusal::parse(status, &body) }
    }

    /// The refusal a body holds.
    pub fn parse(status: StatusCode, body: &[u8]) -> Refusal {
        let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        let first = &v["errors"][0];
        let code = first["code"].as_str().map(printable);
        let sentence = [&first["detail"], &first["message"], &v["details"], &v["error_description"], &v["error"]]
            .into_iter()
            .find_map(|f| match f {
                Value::String(s) if !s.trim().is_empty() => Some(printable(s)),
                Value::Null | Value::String(_) => None,
                other => Some(printable(&other.to_string())),
            });
        Refusal { status, code, sentence, request_id: None }
    }

    /// The sentence, or the status when the registry sent none; with the request ID of a
    /// server error, so the operator can find its log line.
    pub fn words(&self) -> String {
        self.words_or(self.sentence.clone().unwrap_or_else(|| format!("the registry answered {}", self.status)))
    }

    /// The status, then the sentence when there is one (`403 Forbidden: no pull on team/app`),
    /// with the request ID of a server error.
    pub fn summary(&self) -> String {
        match &self.sentence {
            Some(_) => format!("{}: {}", self.status, self.words()),
            None => self.words_or(self.status.to_string()),
        }
    }

    /// The sentence (with a server error's request ID) in parentheses after a space, or nothing:
    /// for messages that name the status themselves.
    pub fn parenthesised(&self) -> String {
        match &self.sentence {
            Some(_) => format!(" ({})", self.words()),
            None => self.words_or(String::new()),
        }
    }

    fn words_or(&self, mut s: String) -> String {
        if let (true, Some(id)) = (self.status.is_server_error(), &self.request_id)
            && !s.contains(id.as_str())
        {
            s.push_str(&format!(" (request ID {id})"));
        }
        s
    }
}

/// `s` on one line: control characters escaped as `\u{…}`, cut at [`MAX_CHARS`].
fn printable(s: &str) -> String {
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i == MAX_CHARS {
            out.push('…');
            break;
        }
        if c.is_control() {
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_errors_detail_then_its_message() {
        let r = Refusal::parse(
            StatusCode::NOT_FOUND,
            br#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown","detail":"no tag v9"},{"code":"X"}]}"#,
        );
        assert_eq!(r.code.as_deref(), Some("MANIFEST_UNKNOWN"));
        assert_eq!(r.sentence.as_deref(), Some("no tag v9"));
        let r = Refusal::parse(StatusCode::NOT_FOUND, br#"{"errors":[{"code":"NAME_UNKNOWN","message":"repo?"}]}"#);
        assert_eq!(r.words(), "repo?");
    }

    #[test]
    fn a_detail_of_any_json_kind_is_shown_as_json() {
        let r = Refusal::parse(StatusCode::FORBIDDEN, br#"{"errors":[{"code":"DENIED","detail":{"tag":"v1"}}]}"#);
        assert_eq!(r.sentence.as_deref(), Some(r#"{"tag":"v1"}"#));
    }

    #[test]
    fn token_service_and_acr_bodies_are_read() {
        let r = Refusal::parse(StatusCode::UNAUTHORIZED, br#"{"details":"bad password"}"#);
        assert_eq!(r.words(), "bad password");
        let r = Refusal::parse(StatusCode::BAD_REQUEST, br#"{"error":"invalid_grant","error_description":"expired"}"#);
        assert_eq!(r.words(), "expired");
    }

    #[test]
    fn no_body_gives_the_status() {
        let r = Refusal::parse(StatusCode::BAD_GATEWAY, b"<html>proxy</html>");
        assert_eq!((r.code.as_deref(), r.sentence.as_deref()), (None, None));
        assert_eq!(r.words(), "the registry answered 502 Bad Gateway");
    }

    #[test]
    fn a_server_error_names_its_request_id() {
        let mut r = Refusal::parse(
            StatusCode::INTERNAL_SERVER_ERROR,
            br#"{"errors":[{"code":"UNKNOWN","message":"unknown error"}]}"#,
        );
        r.request_id = Some("4f2a".into());
        assert_eq!(r.words(), "unknown error (request ID 4f2a)");
        assert_eq!(r.summary(), "500 Internal Server Error: unknown error (request ID 4f2a)");
        assert_eq!(r.parenthesised(), " (unknown error (request ID 4f2a))");
        r.sentence = None;
        assert_eq!(r.summary(), "500 Internal Server Error (request ID 4f2a)");
        assert_eq!(r.parenthesised(), " (request ID 4f2a)");
        r.sentence = Some("see request ID 4f2a in the log".into());
        assert_eq!(r.words(), "see request ID 4f2a in the log", "named once");
        r.sentence = None;
        r.status = StatusCode::NOT_FOUND;
        assert_eq!((r.summary().as_str(), r.parenthesised().as_str()), ("404 Not Found", ""));
    }

    #[test]
    fn a_registry_cannot_drive_the_terminal() {
        let r = Refusal::parse(
            StatusCode::FORBIDDEN,
            "{\"errors\":[{\"detail\":\"\\u001b[2Jgone\\nfake prompt $ \"}]}".as_bytes(),
        );
        let s = r.sentence.unwrap();
        assert!(!s.chars().any(char::is_control), "{s:?}");
        assert_eq!(s, "\\u{1b}[2Jgone\\u{a}fake prompt $ ");
        let long = format!("{{\"details\":\"{}\"}}", "x".repeat(10_000));
        assert_eq!(Refusal::parse(StatusCode::FORBIDDEN, long.as_bytes()).words().chars().count(), MAX_CHARS + 1);
    }

    #[tokio::test]
    async fn an_error_body_is_read_only_up_to_its_bound() {
        let reply = |body: String| {
            reqwest::Response::from(http::Response::builder().status(403).body(body).expect("a response"))
        };
        let small = format!("{{\"details\":\"{}\"}}", "d".repeat(100));
        assert_eq!(Refusal::read(reply(small)).await.sentence.map(|s| s.len()), Some(100));
        let huge = format!("{{\"details\":\"{}\"}}", "d".repeat(MAX_BODY));
        let r = Refusal::read(reply(huge)).await;
        assert_eq!((r.status, r.sentence), (StatusCode::FORBIDDEN, None), "dropped past the bound");
    }
}
