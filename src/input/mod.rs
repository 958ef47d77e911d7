//! Request input: what a body or query string must look like for a handler to read it as
//! JSON, a form or a multipart upload, and how a value that does not fit is reported.
//!
//! The media type decides first: a JSON body must say `application/json` (or any
//! `application/*+json`), a form `application/x-www-form-urlencoded`, an upload
//! `multipart/form-data`; anything else is a 415 and the body is not read. A body with no
//! Content-Type at all is a 415 as well: reading it as JSON regardless would let a browser
//! page on another site post JSON that no CORS preflight ever checked (a `fetch` with a
//! typeless body is a "simple" request).
//!
//! A value that does not fit its type is a 422 whose `loc` is the path to it:
//! `["body","user","email"]`, `["body","items",0]`, `["query","limit"]`. The fast path
//! decodes with no path tracking; only a failed decode is run again through
//! `serde_path_to_error` to find where it failed. Messages are one line (sonic-rs's caret
//! snippet is cut) and bounded in length.
//!
//! Nothing here touches a socket: bodies arrive as bytes, or (uploads) as pieces read by the
//! server's body reader.

mod multipart;

pub use multipart::{Field, Multipart};

use serde::de::DeserializeOwned;
use serde_path_to_error::Segment;

use crate::error::{Error, Loc, ValidationIssue};

/// The most characters of a serde message put in a 422 (messages can quote the input).
const MAX_MSG: usize = 200;

/// The media type for JSON bodies, as named in a 415.
pub(crate) const JSON: &str = "application/json";
/// The media type for form bodies, as named in a 415.
pub(crate) const FORM: &str = "application/x-www-form-urlencoded";
/// The media type for uploads, as named in a 415.
pub(crate) const MULTIPART: &str = "multipart/form-data";

/// `type` and `subtype` of a Content-Type value (parameters and whitespace dropped), `None`
/// when it has no `/`.
fn media_type(content_type: &str) -> Option<(&str, &str)> {
    let essence = content_type.split(';').next().unwrap_or_default().trim();
    let (kind, sub) = essence.split_once('/')?;
    let valid = crate::http::is_token;
    (valid(kind) && valid(sub)).then_some((kind, sub))
}

/// Whether a Content-Type value is JSON: `application/json` or `application/*+json`, with
/// any parameters, in any case.
pub(crate) fn is_json(content_type: &str) -> bool {
    let Some((kind, sub)) = media_type(content_type) else {
        return false;
    };
    let sub = sub.as_bytes();
    kind.eq_ignore_ascii_case("application")
        && (sub.eq_ignore_ascii_case(b"json")
            || (sub.len() > 5 && sub[sub.len() - 5..].eq_ignore_ascii_case(b"+json")))
}

/// Whether a Content-Type value is `application/x-www-form-urlencoded`.
pub(crate) fn is_form(content_type: &str) -> bool {
    media_type(content_type).is_some_and(|(kind, sub)| {
        kind.eq_ignore_ascii_case("application")
            && sub.eq_ignore_ascii_case("x-www-form-urlencoded")
    })
}

/// Whether a Content-Type value is `multipart/form-data`.
pub(crate) fn is_multipart(content_type: &str) -> bool {
    media_type(content_type).is_some_and(|(kind, sub)| {
        kind.eq_ignore_ascii_case("multipart") && sub.eq_ignore_ascii_case("form-data")
    })
}

/// `body` decoded as JSON into `T`: 422 naming the failing field when it does not fit.
pub(crate) fn decode_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, Error> {
    match sonic_rs::from_slice(body) {
        Ok(value) => Ok(value),
        Err(first) => Err(Error::unprocessable(vec![json_issue::<T>(body, first)])),
    }
}

/// Decodes `body` again, this time tracking the path, to say where `first` happened.
#[cold]
fn json_issue<T: DeserializeOwned>(body: &[u8], first: sonic_rs::Error) -> ValidationIssue {
    let mut de = sonic_rs::Deserializer::from_slice(body);
    let tracked = serde_path_to_error::deserialize::<_, T>(&mut de);
    let (path, err) = match tracked {
        Err(e) => {
            let path = e.path().clone();
            (Some(path), e.into_inner())
        }
        // Decoded this time: the trailing bytes are what failed (or, should the two runs
        // ever disagree, the first error stands).
        Ok(_) => (None, de.end().err().unwrap_or(first)),
    };
    if err.is_syntax() || err.is_eof() {
        let msg = first_line(&err.to_string()).to_owned();
        return ValidationIssue::new(
            vec![Loc::from("body")],
            bounded(format!("Invalid JSON: {msg}")),
        )
        .kind("json_invalid");
    }
    // Data errors name the position too; the path says it better.
    let text = err.to_string();
    let line = first_line(&text);
    let suffix = format!(" at line {} column {}", err.line(), err.column());
    let msg = line.strip_suffix(suffix.as_str()).unwrap_or(line);
    let mut loc = vec![Loc::from("body")];
    if let Some(path) = &path {
        push_path(&mut loc, path);
    }
    issue(loc, msg, None)
}

/// `bytes` (a query string or a form body) deserialized into `T`, 422 naming the failing
/// field under `source` (`"query"` or `"body"`).
pub(crate) fn decode_urlencoded<T: DeserializeOwned>(
    source: &'static str,
    bytes: &[u8],
) -> Result<T, Error> {
    match serde_urlencoded::from_bytes(bytes) {
        Ok(value) => Ok(value),
        Err(_) => Err(Error::unprocessable(vec![urlencoded_issue::<T>(
            source, bytes,
        )])),
    }
}

/// Deserializes `bytes` again, tracking the path, to say which field failed and how.
#[cold]
fn urlencoded_issue<T: DeserializeOwned>(source: &'static str, bytes: &[u8]) -> ValidationIssue {
    let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(bytes));
    let mut loc = vec![Loc::from(source)];
    let msg = match serde_path_to_error::deserialize::<_, T>(de) {
        Err(e) => {
            push_path(&mut loc, e.path());
            e.into_inner().to_string()
        }
        Ok(_) => "invalid form data".to_owned(),
    };
    // The value as sent, when the failing field is one of the pairs.
    let input = match loc.get(1) {
        Some(Loc::Name(name)) => form_urlencoded::parse(bytes)
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned()),
        _ => None,
    };
    issue(loc, first_line(&msg), input)
}

/// Appends the steps of a serde path to `loc`.
fn push_path(loc: &mut Vec<Loc>, path: &serde_path_to_error::Path) {
    for segment in path.iter() {
        match segment {
            Segment::Seq { index } => loc.push(Loc::Index(*index)),
            Segment::Map { key } => loc.push(Loc::from(key.clone())),
            Segment::Enum { variant } => loc.push(Loc::from(variant.clone())),
            Segment::Unknown => {}
        }
    }
}

/// An issue at `loc` with serde's message `msg`. serde reports a missing, unknown or
/// duplicate field at the object that should (not) hold it: the field's name, quoted in the
/// message, completes the path.
fn issue(mut loc: Vec<Loc>, msg: &str, input: Option<String>) -> ValidationIssue {
    let named = [
        ("missing field `", "missing_field"),
        ("unknown field `", "validation_error"),
        ("duplicate field `", "validation_error"),
    ];
    let mut kind = "validation_error";
    for (prefix, k) in named {
        if let Some(rest) = msg.strip_prefix(prefix)
            && let Some((name, _)) = rest.split_once('`')
        {
            loc.push(Loc::from(name.to_owned()));
            kind = k;
            break;
        }
    }
    let issue = ValidationIssue::new(loc, bounded(msg.to_owned())).kind(kind);
    match input {
        Some(input) => issue.input(bounded(input)),
        None => issue,
    }
}

/// The first line of `text`.
fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or_default()
}

/// `text` cut to [`MAX_MSG`] characters (with `…` when cut).
fn bounded(text: String) -> String {
    match text.char_indices().nth(MAX_MSG) {
        None => text,
        Some((at, _)) => {
            let mut cut = text[..at].to_owned();
            cut.push('…');
            cut
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct User {
        name: String,
        email: String,
        age: u32,
    }

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Signup {
        user: User,
        tags: Vec<u8>,
    }

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Page {
        limit: u32,
        q: Option<String>,
    }

    /// The single issue of a failed decode, as JSON.
    fn only_issue(err: Error) -> serde_json::Value {
        assert_eq!(err.status(), 422);
        let issues = err.issues();
        assert_eq!(issues.len(), 1);
        serde_json::to_value(&issues[0]).unwrap()
    }

    fn json_fails(body: &str) -> serde_json::Value {
        only_issue(decode_json::<Signup>(body.as_bytes()).unwrap_err())
    }

    #[test]
    fn json_media_types_are_recognised() {
        for ct in [
            "application/json",
            "Application/JSON",
            "application/json; charset=utf-8",
            " application/json ;charset=UTF-8",
            "application/problem+json",
            "application/vnd.api+JSON; ext=1",
        ] {
            assert!(is_json(ct), "{ct}");
        }
        for ct in [
            "text/plain",
            "application/x-www-form-urlencoded",
            "application/jsonx",
            "application/+json",
            "application/json5",
            "json",
            "text/json",
            "application/ json",
            "",
        ] {
            assert!(!is_json(ct), "{ct}");
        }
    }

    #[test]
    fn form_and_multipart_media_types_are_recognised() {
        assert!(is_form("application/x-www-form-urlencoded"));
        assert!(is_form("Application/X-WWW-Form-Urlencoded; charset=UTF-8"));
        assert!(!is_form("application/json"));
        assert!(!is_form("multipart/form-data; boundary=x"));
        assert!(is_multipart("multipart/form-data; boundary=x"));
        assert!(is_multipart("MULTIPART/Form-Data;boundary=\"a b\""));
        assert!(!is_multipart("multipart/mixed; boundary=x"));
        assert!(!is_multipart("application/x-www-form-urlencoded"));
    }

    #[test]
    fn missing_nested_field_is_named_in_loc() {
        let issue = json_fails(r#"{"user":{"name":"a","age":3},"tags":[1]}"#);
        assert_eq!(issue["loc"], serde_json::json!(["body", "user", "email"]));
        assert_eq!(issue["msg"], "missing field `email`");
        assert_eq!(issue["type"], "missing_field");
        assert_eq!(issue["input"], serde_json::Value::Null);
    }

    #[test]
    fn wrong_type_names_the_field_in_one_line() {
        let issue = json_fails(r#"{"user":{"name":"a","email":"x","age":"x"},"tags":[1]}"#);
        assert_eq!(issue["loc"], serde_json::json!(["body", "user", "age"]));
        assert_eq!(issue["msg"], r#"invalid type: string "x", expected u32"#);
        assert_eq!(issue["type"], "validation_error");
    }

    #[test]
    fn array_elements_are_located_by_index() {
        let issue = json_fails(r#"{"user":{"name":"a","email":"x","age":3},"tags":[1,300]}"#);
        assert_eq!(issue["loc"], serde_json::json!(["body", "tags", 1]));
        assert_eq!(issue["msg"], "invalid value: integer `300`, expected u8");
    }

    #[test]
    fn syntax_errors_are_json_invalid_at_the_body() {
        for body in [
            r#"{"user" {"#,
            "",
            "{\"user\":\n tru}",
            r#"{"user":{"name":"a","email":"x","age":3},"tags":[]} x"#,
        ] {
            let issue = json_fails(body);
            assert_eq!(issue["loc"], serde_json::json!(["body"]), "{body:?}");
            assert_eq!(issue["type"], "json_invalid", "{body:?}");
            let msg = issue["msg"].as_str().unwrap();
            assert!(msg.starts_with("Invalid JSON: "), "{msg}");
            assert!(msg.contains(" at line "), "position in {msg}");
            assert!(!msg.contains('\n'), "one line: {msg:?}");
        }
    }

    #[test]
    fn long_messages_are_bounded() {
        let long = "y".repeat(10_000);
        let body = format!(r#"{{"user":{{"name":"a","email":"x","age":"{long}"}},"tags":[]}}"#);
        let issue = json_fails(&body);
        let msg = issue["msg"].as_str().unwrap();
        assert!(msg.chars().count() <= MAX_MSG + 1, "{} chars", msg.len());
        assert!(msg.ends_with('…'));
    }

    #[test]
    fn valid_json_decodes() {
        let s: Signup =
            decode_json(br#"{"user":{"name":"a","email":"x","age":3},"tags":[1]}"#).unwrap();
        assert_eq!(s.user.age, 3);
    }

    #[test]
    fn query_issues_name_the_parameter() {
        let fails =
            |q: &str| only_issue(decode_urlencoded::<Page>("query", q.as_bytes()).unwrap_err());
        let issue = fails("limit=abc&q=x");
        assert_eq!(issue["loc"], serde_json::json!(["query", "limit"]));
        assert_eq!(issue["input"], "abc");
        assert_eq!(issue["msg"], "invalid digit found in string");
        let issue = fails("q=x");
        assert_eq!(issue["loc"], serde_json::json!(["query", "limit"]));
        assert_eq!(issue["type"], "missing_field");
        assert_eq!(issue["input"], serde_json::Value::Null);
        let issue = fails("limit=5&limit=6");
        assert_eq!(issue["loc"], serde_json::json!(["query", "limit"]));
        let page: Page = decode_urlencoded("query", b"limit=5&q=a+b").unwrap();
        assert_eq!(page.q.as_deref(), Some("a b"));
    }
}
