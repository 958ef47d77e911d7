//! Response models: `api.get(...).response_model::<User>()` checks that a handler's JSON
//! output has the shape of `User` before it is sent, and sends it as `User` serializes it
//! (fields the model does not have are dropped). A mismatch is the handler's bug: 500, with
//! what was wrong, never the invalid body.

use bytes::Bytes;
use http::StatusCode;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{APPLICATION_JSON, Response};

/// Re-encodes a JSON body through a model type, or says why it does not fit.
pub(crate) type Validator = fn(&[u8]) -> Result<Vec<u8>, String>;

/// The validator for model `T`.
pub(crate) fn validator<T: Serialize + DeserializeOwned>() -> Validator {
    |body| {
        let value: T = sonic_rs::from_slice(body).map_err(|_| describe::<T>(body))?;
        sonic_rs::to_vec(&value).map_err(|e| e.to_string())
    }
}

/// The short name of `T` (`User` for `my_app::models::User`).
fn short_name<T>() -> &'static str {
    let full = std::any::type_name::<T>();
    let base = full.split('<').next().unwrap_or(full);
    base.rsplit("::").next().unwrap_or(base)
}

/// A message in the words a JSON client knows: `Expected `int`, got `str` - at `$.id``,
/// `Object missing required field `email``.
fn describe<T: DeserializeOwned>(body: &[u8]) -> String {
    let mut de = serde_json::Deserializer::from_slice(body);
    let detail = match serde_path_to_error::deserialize::<_, T>(&mut de) {
        Ok(_) => "invalid JSON".to_owned(),
        Err(e) => {
            let path = e.path().to_string();
            let msg = plain_message(&e.inner().to_string());
            if path.is_empty() || path == "." || msg.starts_with("Object missing") {
                msg
            } else {
                format!("{msg} - at `$.{path}`")
            }
        }
    };
    format!(
        "Response validation failed for {}: {detail}",
        short_name::<T>()
    )
}

/// Rewrites serde_json's wording (`invalid type: string "x", expected i64 at line 1 column 9`)
/// into JSON type names.
fn plain_message(serde_msg: &str) -> String {
    let msg = serde_msg.split(" at line ").next().unwrap_or(serde_msg);
    if let Some(field) = msg.strip_prefix("missing field ") {
        return format!("Object missing required field {field}");
    }
    if let Some(rest) = msg.strip_prefix("invalid type: ")
        && let Some((got, expected)) = rest.split_once(", expected ")
    {
        return format!(
            "Expected `{}`, got `{}`",
            json_type(expected),
            json_type(got)
        );
    }
    if let Some(rest) = msg.strip_prefix("invalid value: ")
        && let Some((got, expected)) = rest.split_once(", expected ")
    {
        return format!("Invalid value {got}, expected {expected}");
    }
    msg.to_owned()
}

/// `i64` → `int`, `a string` → `str`, `string "x"` → `str`, ...
fn json_type(serde_words: &str) -> &'static str {
    let w = serde_words.trim();
    let first = w.trim_start_matches("a ").trim_start_matches("an ");
    match first.split([' ', '(']).next().unwrap_or("") {
        "i8" | "i16" | "i32" | "i64" | "i128" | "u8" | "u16" | "u32" | "u64" | "u128" | "isize"
        | "usize" | "integer" => "int",
        "f32" | "f64" | "floating" => "float",
        "string" | "str" | "char" | "borrowed" => "str",
        "boolean" | "bool" => "bool",
        "sequence" | "tuple" | "array" => "array",
        "map" | "struct" => "object",
        "null" | "unit" | "option" => "null",
        _ if w.starts_with("struct ") || w.starts_with("a map") => "object",
        _ => "value",
    }
}

/// The 500 a failed validation answers, shaped as Django-Bolt shapes it.
pub(crate) fn failure(message: String) -> Response {
    #[derive(Serialize)]
    struct Issue {
        loc: [&'static str; 1],
        msg: String,
        #[serde(rename = "type")]
        kind: &'static str,
    }
    #[derive(Serialize)]
    struct Extra {
        validation_errors: [Issue; 1],
    }
    #[derive(Serialize)]
    struct Body {
        detail: &'static str,
        extra: Extra,
    }
    let body = Body {
        detail: "Response validation error",
        extra: Extra {
            validation_errors: [Issue {
                loc: ["response"],
                msg: message,
                kind: "validation_error",
            }],
        },
    };
    let bytes = sonic_rs::to_vec(&body).unwrap_or_default();
    Response::with_body(
        StatusCode::INTERNAL_SERVER_ERROR,
        APPLICATION_JSON,
        Bytes::from(bytes),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Serialize, serde::Deserialize)]
    struct User {
        id: i64,
        username: String,
        email: String,
    }

    #[test]
    fn wrong_type_names_the_field() {
        let v = validator::<User>();
        let err = v(br#"{"id":"not-an-int","username":"john"}"#).unwrap_err();
        assert_eq!(
            err,
            "Response validation failed for User: Expected `int`, got `str` - at `$.id`"
        );
    }

    #[test]
    fn missing_field_is_named() {
        let v = validator::<User>();
        let err = v(br#"{"id":5,"username":"john"}"#).unwrap_err();
        assert_eq!(
            err,
            "Response validation failed for User: Object missing required field `email`"
        );
    }

    #[test]
    fn valid_output_is_reencoded_through_the_model() {
        let v = validator::<User>();
        let out = v(br#"{"id":5,"username":"john","email":"j@x","extra":1}"#).unwrap();
        assert_eq!(out, br#"{"id":5,"username":"john","email":"j@x"}"#);
    }
}
