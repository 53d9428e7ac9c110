//! Pull-secret contents as the kubelet reads them (`pkg/credentialprovider/config.go`,
//! `secrets/secrets.go`): `.dockerconfigjson` (`{"auths":{…}}`) and the legacy `.dockercfg`
//! (the bare map); each entry's `username`/`password`, overridden by `auth` when present.
//!
//! The kubelet decodes them with Go's `encoding/json` into typed structs, and this module
//! follows that decoder rather than a generic JSON reader ([`crate::gojson`]): known fields of
//! the wrong type fail, unknown ones of any type are ignored, keys match case-insensitively
//! with the last one winning, and `null` is no value at all.

use crate::gojson::{Json, field_matches};
use base64::Engine;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

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

/// Go's `base64.StdEncoding`: padding required, and (not being `Strict`) non-zero bits after
/// the last full byte accepted.
const GO_STD: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_allow_trailing_bits(true)
        .with_decode_padding_mode(DecodePaddingMode::RequireCanonical),
);

/// Go's `base64.RawStdEncoding`: no padding, trailing bits accepted as above.
const GO_RAW_STD: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_allow_trailing_bits(true)
        .with_decode_padding_mode(DecodePaddingMode::RequireNone),
);

/// Decodes an `auth` value as the kubelet's `decodeDockerConfigFieldAuth`: `StdEncoding` when
/// the trimmed value ends in `=`, else `RawStdEncoding`; newlines in the encoded text are
/// skipped and non-zero trailing bits accepted (Go's decoders, which are not `Strict`); split
/// at the first `:`.
pub fn decode_auth(server: &str, auth: &str) -> Result<(String, String), ParseError> {
    let text: String = auth.chars().filter(|c| *c != '\n' && *c != '\r').collect();
    let engine = if auth.trim().ends_with('=') { &GO_STD } else { &GO_RAW_STD };
    let decoded =
        engine.decode(&text).map_err(|e| ParseError::AuthBase64 { server: server.to_owned(), why: e.to_string() })?;
    let decoded = String::from_utf8_lossy(&decoded).into_owned();
    match decoded.split_once(':') {
        Some((u, p)) => Ok((u.to_owned(), p.to_owned())),
        None => Err(ParseError::AuthFormat(server.to_owned())),
    }
}

/// Go's `UnmarshalTypeError` for a member of the wrong kind, as a sentence (the kind only,
/// never the value, which may be a password).
fn wrong_type(at: &str, key: &str, v: &Json, want: &str, go_field: &str) -> ParseError {
    ParseError::Json(format!(
        "{at}{key:?} is {}, not {want} (kubelet: json: cannot unmarshal {} into Go struct field {go_field} of type {want})",
        v.described(),
        v.kind()
    ))
}

/// The fields of `dockerConfigEntryWithAuth`, all strings.
const ENTRY_FIELDS: [&str; 4] = ["username", "password", "email", "auth"];

/// One entry, as `DockerConfigEntry.UnmarshalJSON` decodes it into `dockerConfigEntryWithAuth`:
/// `null` is an entry with empty credentials; members are taken in order, each setting the
/// field it names (`gojson::field_matches`), so a later one wins; `null` members set nothing;
/// a known field that is not a string fails the entry; unknown members are ignored whatever
/// they hold (`identitytoken` among them, read here only to warn).
fn entry(server: &str, v: &Json) -> Result<Entry, ParseError> {
    let members: &[(String, Json)] = match v {
        Json::Null => &[],
        Json::Object(m) => m,
        other => {
            return Err(ParseError::Json(format!(
                "{server:?} is {}, not an object (kubelet: json: cannot unmarshal {} into Go value of type credentialprovider.dockerConfigEntryWithAuth)",
                other.described(),
                other.kind()
            )));
        }
    };
    let mut fields: [String; 4] = Default::default();
    let mut identity = String::new();
    for (key, value) in members {
        match (ENTRY_FIELDS.iter().position(|f| field_matches(key, f)), value) {
            (_, Json::Null) => {}
            (Some(i), Json::String(s)) => fields[i] = s.clone(),
            (Some(i), other) => {
                return Err(wrong_type(
                    &format!("{server:?}: "),
                    key,
                    other,
                    "string",
                    &format!("dockerConfigEntryWithAuth.{}", ENTRY_FIELDS[i]),
                ));
            }
            (None, Json::String(s)) if field_matches(key, "identitytoken") => identity = s.clone(),
            (None, _) => {}
        }
    }
    let [mut username, mut password, _email, auth] = fields;
    if !auth.is_empty() {
        (username, password) = decode_auth(server, &auth)?;
    }
    let identity_token_only = !identity.is_empty() && password.is_empty();
    let unpadded_auth = !auth.is_empty() && auth.trim().len() % 4 != 0 && !auth.trim().ends_with('=');
    Ok(Entry { server: server.to_owned(), username, password, identity_token_only, unpadded_auth })
}

/// Decodes a `DockerConfig` (`map[string]DockerConfigEntry`) into `out` as Go decodes into a
/// map: `null` empties it, an object adds its members in order (a repeated key keeps the
/// last value, but every value must decode), anything else fails.
fn merge_entries(out: &mut Vec<Entry>, v: &Json, what: &str) -> Result<(), ParseError> {
    let members = match v {
        Json::Null => {
            out.clear();
            return Ok(());
        }
        Json::Object(m) => m,
        other => {
            return Err(ParseError::Json(format!("{what} is {}, not an object of registries", other.described())));
        }
    };
    for (server, value) in members {
        let e = entry(server, value)?;
        match out.iter_mut().find(|x| x.server == *server) {
            Some(slot) => *slot = e,
            None => out.push(e),
        }
    }
    Ok(())
}

fn parse(bytes: &[u8]) -> Result<Json, ParseError> {
    Json::parse(bytes).map_err(|e| ParseError::Json(format!("not JSON ({e})")))
}

/// The entries of `.dockerconfigjson` content, decoded as `json.Unmarshal` into the kubelet's
/// `DockerConfigJSON` (`secrets.go: MakeDockerKeyring`): its known fields are `auths` (a
/// `DockerConfig`) and `HttpHeaders` (`map[string]string`, which must hold strings though the
/// kubelet does nothing with it); keys match case-insensitively, a later one wins (`null`
/// empties a map; an object is merged into what an earlier key left); others are ignored; the
/// whole content may be `null`.
pub fn parse_docker_config_json(bytes: &[u8]) -> Result<Vec<Entry>, ParseError> {
    let members = match parse(bytes)? {
        Json::Null => return Ok(Vec::new()),
        Json::Object(m) => m,
        other => {
            return Err(ParseError::Json(format!(
                "the content is {}, not an object (kubelet: json: cannot unmarshal {} into Go value of type credentialprovider.DockerConfigJSON)",
                other.described(),
                other.kind()
            )));
        }
    };
    let mut out = Vec::new();
    for (key, value) in &members {
        if field_matches(key, "auths") {
            merge_entries(&mut out, value, &format!("{key:?}"))?;
        } else if field_matches(key, "httpheaders") {
            http_headers(key, value)?;
        }
    }
    Ok(out)
}

/// Checks `HttpHeaders` as Go decodes a `map[string]string`: `null`, or an object of strings
/// (or `null`s).
fn http_headers(key: &str, v: &Json) -> Result<(), ParseError> {
    let go_field = "DockerConfigJSON.HttpHeaders";
    match v {
        Json::Null => Ok(()),
        Json::Object(m) => match m.iter().find(|(_, h)| !matches!(h, Json::String(_) | Json::Null)) {
            Some((name, h)) => Err(wrong_type(&format!("{key}: "), name, h, "string", go_field)),
            None => Ok(()),
        },
        other => Err(wrong_type("", key, other, "map[string]string", go_field)),
    }
}

/// The entries of legacy `.dockercfg` content (the bare map of servers), decoded as
/// `json.Unmarshal` into a `DockerConfig` (`secrets.go: MakeDockerKeyring`).
pub fn parse_dockercfg(bytes: &[u8]) -> Result<Vec<Entry>, ParseError> {
    let mut out = Vec::new();
    merge_entries(&mut out, &parse(bytes)?, "the content")?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::STANDARD;

    fn one(json: &str) -> Result<(String, String), ParseError> {
        let entries = parse_docker_config_json(json.as_bytes())?;
        assert_eq!(entries.len(), 1, "{json}");
        Ok((entries[0].username.clone(), entries[0].password.clone()))
    }

    fn creds(u: &str, p: &str) -> Result<(String, String), ParseError> {
        Ok((u.to_owned(), p.to_owned()))
    }

    #[test]
    fn auth_overrides_username_and_password() {
        let json = r#"{"auths":{"r.example":{"username":"ignored","password":"ignored","auth":"dTpwOnE="}}}"#;
        assert_eq!(one(json), creds("u", "p:q"), "split at the first colon");
    }

    /// `dockerConfigEntryWithAuth` as `json.Unmarshal` fills it (`DockerConfigEntry.UnmarshalJSON`):
    /// a known field that is not a string fails, an unknown one of any type is ignored, `null`
    /// sets nothing, names fold (`bytes.EqualFold`) and the last member naming a field wins.
    #[test]
    fn entry_fields_as_go_decodes_them() {
        let (a, b) = (STANDARD.encode("first:1"), STANDARD.encode("second:2"));
        // The entry's JSON, and the credentials or words of the error.
        type Case = (String, Result<(String, String), &'static str>);
        let cases: Vec<Case> = vec![
            (r#"{"username":"u","password":"p","email":5}"#.into(), Err(r#""email" is a number, not string"#)),
            (r#"{"username":"u","Email":true}"#.into(), Err(r#""Email" is a bool"#)),
            (r#"{"username":["u"]}"#.into(), Err("dockerConfigEntryWithAuth.username of type string")),
            (r#"{"auth":{"a":1}}"#.into(), Err(r#""auth" is an object"#)),
            (r#"{"username":"u","password":12345}"#.into(), Err(r#""password" is a number"#)),
            (
                r#"{"username":"u","password":"p","identitytoken":5,"registrytoken":{},"x":[1],"y":null}"#.into(),
                Ok(("u".into(), "p".into())),
            ),
            (r#"{"username":"u","password":"p","email":null}"#.into(), Ok(("u".into(), "p".into()))),
            (format!(r#"{{"auth":"{a}","Auth":"{b}"}}"#), Ok(("second".into(), "2".into()))),
            (format!(r#"{{"AUTH":"{b}","auth":"{a}"}}"#), Ok(("first".into(), "1".into()))),
            (format!(r#"{{"auth":"{a}","Auth":null}}"#), Ok(("first".into(), "1".into()))),
            (r#"{"USERNAME":"a","username":"b","PassWord":"p"}"#.into(), Ok(("b".into(), "p".into()))),
            ("{\"u\u{17f}ername\":\"long-s\"}".into(), Ok(("long-s".into(), String::new()))),
            (r#"{"user_name":"x"}"#.into(), Ok((String::new(), String::new()))),
        ];
        for (entry, want) in cases {
            let json = format!(r#"{{"auths":{{"r":{entry}}}}}"#);
            match (one(&json), want) {
                (Ok(got), Ok(want)) => assert_eq!(got, want, "{entry}"),
                (Err(e), Err(words)) => assert!(e.to_string().contains(words), "{entry}: {e}"),
                (got, want) => panic!("{entry}: got {got:?}, want {want:?}"),
            }
        }
        let leak = parse_docker_config_json(br#"{"auths":{"r":{"password":12345}}}"#).unwrap_err();
        assert!(!leak.to_string().contains("12345"), "the value is never shown: {leak}");
    }

    /// A `null` entry: `UnmarshalJSON(null)` decodes nothing and succeeds, so the key has empty
    /// credentials; any other non-object fails.
    #[test]
    fn a_null_entry_has_empty_credentials() {
        assert_eq!(one(r#"{"auths":{"r":null}}"#), creds("", ""));
        assert_eq!(parse_dockercfg(br#"{"r":null}"#).unwrap()[0].server, "r");
        for bad in [r#""u:p""#, "5", "[]", "true"] {
            let json = format!(r#"{{"auths":{{"r":{bad}}}}}"#);
            assert!(matches!(parse_docker_config_json(json.as_bytes()), Err(ParseError::Json(_))), "{bad}");
        }
    }

    /// `DockerConfigJSON`: `auths` and `HttpHeaders` fold; `null` empties a map, a later
    /// object is merged into it; a repeated server keeps its last value, but each must decode.
    #[test]
    fn top_level_as_go_decodes_it() {
        let servers = |json: &str| -> Result<Vec<String>, ParseError> {
            Ok(parse_docker_config_json(json.as_bytes())?.into_iter().map(|e| e.server).collect())
        };
        assert_eq!(servers(r#"{"Auths":{"a":{}}}"#).unwrap(), ["a"]);
        assert_eq!(servers(r#"{"auths":{"a":{}},"AUTHS":{"b":{}}}"#).unwrap(), ["a", "b"]);
        assert_eq!(servers(r#"{"auths":{"a":{}},"auths":null}"#).unwrap(), Vec::<String>::new());
        assert_eq!(servers("null").unwrap(), Vec::<String>::new());
        assert_eq!(servers(r#"{"auths":null,"credsStore":5,"credHelpers":[]}"#).unwrap(), Vec::<String>::new());
        assert_eq!(one(r#"{"auths":{"r":{"username":"a"},"r":{"username":"b"}}}"#), creds("b", ""));
        assert!(servers(r#"{"auths":{"r":{"auth":"!!"},"r":{"username":"b"}}}"#).is_err());
        assert!(servers(r#"{"auths":{"a":{}},"HttpHeaders":{"X-Meta":"v","Y":null}}"#).is_ok());
        for bad in [r#"{"auths":"x"}"#, r#"{"auths":[]}"#, r#"{"HttpHeaders":5}"#, r#"{"httpheaders":{"X":1}}"#, "[]"] {
            assert!(matches!(servers(bad), Err(ParseError::Json(_))), "{bad}");
        }
        assert!(parse_dockercfg(b"[]").is_err() && parse_dockercfg(b"null").unwrap().is_empty());
    }

    /// `decodeDockerConfigFieldAuth` with Go's decoders: padded or not, newlines skipped, and
    /// non-zero trailing bits accepted (`StdEncoding` is not `Strict`).
    #[test]
    fn auth_base64_as_go_decodes_it() {
        for (auth, want) in [
            ("dTpwdw==", Some(("u", "pw"))),
            ("dTpwdx==", Some(("u", "pw"))),
            ("dTpwdx", Some(("u", "pw"))),
            ("dTp=", Some(("u", ""))),
            ("dTpw", Some(("u", "p"))),
            ("dTpw\ndw==\n", Some(("u", "pw"))),
            ("dTpwdw=", None),
            ("dTpwdw===", None),
            ("dTpw dw==", None),
            ("!!!", None),
        ] {
            let got = decode_auth("r", auth).ok();
            assert_eq!(got.as_ref().map(|(u, p)| (u.as_str(), p.as_str())), want, "{auth:?}");
        }
    }

    #[test]
    fn unpadded_auth_and_field_case_are_accepted() {
        let e = &parse_docker_config_json(br#"{"auths":{"r":{"Auth":"dTpw"}}}"#).unwrap()[0];
        assert_eq!((e.username.as_str(), e.password.as_str(), e.unpadded_auth), ("u", "p", false));
        let e = &parse_docker_config_json(br#"{"auths":{"r":{"auth":"dTpwdw"}}}"#).unwrap()[0];
        assert!(e.unpadded_auth);
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
