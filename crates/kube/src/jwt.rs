//! A JWT's claims read without verifying its signature: for cache lifetimes, the doctor's
//! explanations and a token's grants, never for a decision the registry makes. The registry
//! verifies; this only reads what a token says about itself.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;

/// The payload of `token` (`HEADER.PAYLOAD.SIGNATURE`) as JSON, `None` when it is not a JWT.
pub fn claims(token: &str) -> Option<Value> {
    let mut parts = token.split('.');
    let payload = parts.nth(1)?;
    let bytes = URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
    serde_json::from_slice::<Value>(&bytes).ok().filter(Value::is_object)
}

/// The `exp` claim (seconds since the epoch), `None` when absent or not a number.
pub fn expiry(token: &str) -> Option<u64> {
    claims(token)?.get("exp")?.as_u64()
}

/// The `aud` claim as a list: a string is one audience, an array several.
pub fn audiences(claims: &Value) -> Vec<String> {
    match &claims["aud"] {
        Value::String(a) => vec![a.clone()],
        Value::Array(list) => list.iter().filter_map(|a| a.as_str().map(str::to_owned)).collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(payload: &str) -> String {
        format!("e30.{}.sig", URL_SAFE_NO_PAD.encode(payload))
    }

    #[test]
    fn reads_the_payload_without_the_signature() {
        let t = token(r#"{"iss":"https://i","exp":1700000000,"aud":["a","b"]}"#);
        let c = claims(&t).unwrap();
        assert_eq!(c["iss"], "https://i");
        assert_eq!(expiry(&t), Some(1_700_000_000));
        assert_eq!(audiences(&c), ["a", "b"]);
        assert_eq!(audiences(&claims(&token(r#"{"aud":"one"}"#)).unwrap()), ["one"]);
        assert!(audiences(&claims(&token("{}")).unwrap()).is_empty());
    }

    #[test]
    fn anything_else_is_not_a_jwt() {
        assert_eq!(claims("opaque"), None);
        assert_eq!(claims("a.!!!.c"), None);
        assert_eq!(claims(&token("[1]")), None);
        assert_eq!(expiry(&token(r#"{"exp":"soon"}"#)), None);
    }
}
