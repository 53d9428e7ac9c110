//! JSON as Go's `encoding/json` decodes it into the kubelet's structs: every object member is
//! kept, in document order and with duplicates, because Go decodes each one in turn (a later
//! member overwrites an earlier one, and an error in any of them fails the whole value); and
//! struct fields are found by name as Go finds them (exact, else case-folded).

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use std::fmt;

/// A JSON value whose objects keep every member in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Json {
    /// `null`.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// A number (its value never matters to the kubelet's string fields).
    Number,
    /// A string.
    String(String),
    /// An array.
    Array(Vec<Json>),
    /// An object: its members as written, duplicates included.
    Object(Vec<(String, Json)>),
}

impl Json {
    /// Parses `bytes` (serde_json's grammar, which is Go's for valid UTF-8).
    pub fn parse(bytes: &[u8]) -> Result<Json, serde_json::Error> {
        serde_json::from_slice(bytes)
    }

    /// The word Go's `UnmarshalTypeError` uses for this value's kind: never the value itself,
    /// which may be a password.
    pub fn kind(&self) -> &'static str {
        match self {
            Json::Null => "null",
            Json::Bool(_) => "bool",
            Json::Number => "number",
            Json::String(_) => "string",
            Json::Array(_) => "array",
            Json::Object(_) => "object",
        }
    }

    /// The kind with its article, for sentences (`a number`, `an array`).
    pub fn described(&self) -> &'static str {
        match self {
            Json::Null => "null",
            Json::Bool(_) => "a bool",
            Json::Number => "a number",
            Json::String(_) => "a string",
            Json::Array(_) => "an array",
            Json::Object(_) => "an object",
        }
    }
}

/// Whether object key `key` sets the struct field whose JSON name is `name` (lowercase ASCII),
/// as Go's `encoding/json` decides (`decodeState.object`: the exact name, else `foldName`,
/// which is `bytes.EqualFold`): ASCII letters match either case, and the two non-ASCII runes
/// whose simple case folding reaches an ASCII letter match it too (U+017F `ſ` is `s`, U+212A
/// KELVIN SIGN is `k`).
pub fn field_matches(key: &str, name: &str) -> bool {
    let mut want = name.bytes();
    for c in key.chars() {
        let Some(w) = want.next() else { return false };
        let same = match c {
            '\u{17f}' => w == b's',
            '\u{212a}' => w == b'k',
            c => c.is_ascii() && (c as u8).eq_ignore_ascii_case(&w),
        };
        if !same {
            return false;
        }
    }
    want.next().is_none()
}

impl<'de> Deserialize<'de> for Json {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Json, D::Error> {
        d.deserialize_any(JsonVisitor)
    }
}

struct JsonVisitor;

impl<'de> Visitor<'de> for JsonVisitor {
    type Value = Json;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E>(self) -> Result<Json, E> {
        Ok(Json::Null)
    }

    fn visit_none<E>(self) -> Result<Json, E> {
        Ok(Json::Null)
    }

    fn visit_bool<E>(self, b: bool) -> Result<Json, E> {
        Ok(Json::Bool(b))
    }

    fn visit_i64<E>(self, _: i64) -> Result<Json, E> {
        Ok(Json::Number)
    }

    fn visit_u64<E>(self, _: u64) -> Result<Json, E> {
        Ok(Json::Number)
    }

    fn visit_f64<E>(self, _: f64) -> Result<Json, E> {
        Ok(Json::Number)
    }

    fn visit_str<E>(self, s: &str) -> Result<Json, E> {
        Ok(Json::String(s.to_owned()))
    }

    fn visit_string<E>(self, s: String) -> Result<Json, E> {
        Ok(Json::String(s))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json, A::Error> {
        let mut items = Vec::new();
        while let Some(v) = seq.next_element()? {
            items.push(v);
        }
        Ok(Json::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json, A::Error> {
        let mut members = Vec::new();
        while let Some((k, v)) = map.next_entry::<String, Json>()? {
            members.push((k, v));
        }
        Ok(Json::Object(members))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_keep_order_and_duplicates() {
        let v = Json::parse(br#"{"b":1,"a":[true,null],"b":"x"}"#).unwrap();
        let Json::Object(m) = v else { panic!("{v:?}") };
        let keys: Vec<&str> = m.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["b", "a", "b"]);
        assert_eq!(m[2].1, Json::String("x".into()));
        assert_eq!(m[1].1, Json::Array(vec![Json::Bool(true), Json::Null]));
    }

    /// Go: `bytes.EqualFold` over the key and the field name.
    #[test]
    fn field_names_fold_as_go_does() {
        for (key, name, want) in [
            ("username", "username", true),
            ("USERNAME", "username", true),
            ("UserName", "username", true),
            ("u\u{17f}ername", "username", true),
            ("pa\u{17f}\u{17f}word", "password", true),
            ("\u{212a}ey", "key", true),
            ("user", "username", false),
            ("usernames", "username", false),
            ("us\u{e9}rname", "username", false),
            ("user_name", "username", false),
        ] {
            assert_eq!(field_matches(key, name), want, "{key} vs {name}");
        }
    }
}
