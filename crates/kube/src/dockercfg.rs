//! Pull-secret contents as the kubelet reads them (`pkg/credentialprovider/config.go`,
//! `secrets/secrets.go`): `.dockerconfigjson` (`{"auths":{…}}`) and the legacy `.dockercfg`
//! (the bare map); each entry's `username`/`password`, overridden by `auth` when present.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use serde_json::Value;

/// One `auths` entry as the kubelet keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The key as written (`https://host/v1/`, `host:port/path`, `*.host`).
    pub server: String,
    /// Username (from `auth` when present).
    pub username: String,
    /// Password (from `auth` when present).
    pub password: String,
    /// Whether the entry held only an `identitytoken` (which the kubelet ignores).
    pub identity_token_only: bool,
    /// Whether `auth` was base64 without its `=` padding.
    pub unpadded_auth: bool,
}

/// Why an entry or a whole secret cannot be read; the kubelet then fails the whole pull.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// The content is not the JSON the type promises.
    #[error("{0}")]
    Json(String),
    /// `auth` is not base64.
    #[error("the auth field of {server:?} is not base64 ({why})")]
    AuthBase64 {
        /// The entry's key.
        server: String,
        /// The decoder's complaint.
        why: String,
    },
    /// `auth` decodes to something without a `:`.
    #[error(
        "the auth field of {0:?} is not base64 of username:password (kubelet: unable to parse auth field, must be formatted as base64(username:password))"
    )]
    AuthFormat(String),
}

/// Case-insensitive field lookup, as Go's `encoding/json` matches struct fields.
fn field<'v>(entry: &'v serde_json::Map<String, Value>, name: &str) -> Option<&'v Value> {
    entry.get(name).or_else(|| entry.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v))
}

fn string_field(entry: &serde_json::Map<String, Value>, name: &str, server: &str) -> Result<String, ParseError> {
    match field(entry, name) {
        None | Some(Value::Null) => Ok(String::new()),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(other) => Err(ParseError::Json(format!("{server:?}: {name} is {other}, not a string"))),
    }
}

/// Decodes an `auth` value as the kubelet: padded base64 when it ends in `=`, else unpadded;
/// newlines in the encoded text are skipped (as Go's decoder does); split at the first `:`.
pub fn decode_auth(server: &str, auth: &str) -> Result<(String, String), ParseError> {
    let text: String = auth.chars().filter(|c| *c != '\n' && *c != '\r').collect();
    let decoded = if auth.trim().ends_with('=') { STANDARD.decode(&text) } else { STANDARD_NO_PAD.decode(&text) };
    let decoded = decoded.map_err(|e| ParseError::AuthBase64 { server: server.to_owned(), why: e.to_string() })?;
    let decoded = String::from_utf8_lossy(&decoded).into_owned();
    match decoded.split_once(':') {
        Some((u, p)) => Ok((u.to_owned(), p.to_owned())),
        None => Err(ParseError::AuthFormat(server.to_owned())),
    }
}

fn entry(server: &str, v: &Value) -> Result<Entry, ParseError> {
    let map = v.as_object().ok_or_else(|| ParseError::Json(format!("{server:?} is {v}, not an object")))?;
    let mut username = string_field(map, "username", server)?;
    let mut password = string_field(map, "password", server)?;
    let auth = string_field(map, "auth", server)?;
    let identity = string_field(map, "identitytoken", server)?;
    if !auth.is_empty() {
        (username, password) = decode_auth(server, &auth)?;
    }
    let identity_token_only = !identity.is_empty() && password.is_empty();
    let unpadded_auth = !auth.is_empty() && auth.trim().len() % 4 != 0 && !auth.trim().ends_with('=');
    Ok(Entry { server: server.to_owned(), username, password, identity_token_only, unpadded_auth })
}

fn entries(map: &serde_json::Map<String, Value>) -> Result<Vec<Entry>, ParseError> {
    map.iter().map(|(server, v)| entry(server, v)).collect()
}

/// The entries of `.dockerconfigjson` content (`{"auths": {...}}`).
pub fn parse_docker_config_json(bytes: &[u8]) -> Result<Vec<Entry>, ParseError> {
    let v: Value = serde_json::from_slice(bytes).map_err(|e| ParseError::Json(format!("not JSON ({e})")))?;
    let obj = v.as_object().ok_or_else(|| ParseError::Json("not a JSON object".into()))?;
    match field(obj, "auths") {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Object(auths)) => entries(auths),
        Some(other) => Err(ParseError::Json(format!("auths is {other}, not an object"))),
    }
}

/// The entries of legacy `.dockercfg` content (the bare map of servers).
pub fn parse_dockercfg(bytes: &[u8]) -> Result<Vec<Entry>, ParseError> {
    let v: Value = serde_json::from_slice(bytes).map_err(|e| ParseError::Json(format!("not JSON ({e})")))?;
    let obj = v.as_object().ok_or_else(|| ParseError::Json("not a JSON object".into()))?;
    entries(obj)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auth_overrides_username_and_password() {
        let json = br#"{"auths":{"r.example":{"username":"ignored","password":"ignored","auth":"dTpwOnE="}}}"#;
        let e = &parse_docker_config_json(json).unwrap()[0];
        assert_eq!((e.username.as_str(), e.password.as_str()), ("u", "p:q"), "split at the first colon");
    }

    #[test]
    fn unpadded_auth_and_field_case_are_accepted() {
        let json = br#"{"auths":{"r":{"Auth":"dTpw"}}}"#;
        let e = &parse_docker_config_json(json).unwrap()[0];
        assert_eq!((e.username.as_str(), e.password.as_str()), ("u", "p"));
    }

    #[test]
    fn malformed_auth_fails() {
        let no_colon = format!(r#"{{"auths":{{"r":{{"auth":"{}"}}}}}}"#, STANDARD.encode("justuser"));
        assert!(matches!(parse_docker_config_json(no_colon.as_bytes()), Err(ParseError::AuthFormat(_))));
        let not_b64 = br#"{"auths":{"r":{"auth":"!!!"}}}"#;
        assert!(matches!(parse_docker_config_json(not_b64), Err(ParseError::AuthBase64 { .. })));
    }

    #[test]
    fn identity_token_only_entries_are_flagged() {
        let json =
            br#"{"auths":{"r":{"auth":"MDAwMDAwMDAtMDAwMC0wMDAwLTAwMDAtMDAwMDAwMDAwMDAwOg==","identitytoken":"tok"}}}"#;
        let e = &parse_docker_config_json(json).unwrap()[0];
        assert!(e.identity_token_only && e.password.is_empty());
    }

    #[test]
    fn legacy_dockercfg_is_the_bare_map() {
        let json = br#"{"r.example":{"username":"u","password":"p","email":"e@x"}}"#;
        assert_eq!(parse_dockercfg(json).unwrap()[0].username, "u");
    }
}
