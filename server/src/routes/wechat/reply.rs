//! What every `/cgi-bin` handler answers: HTTP 200 with `{"errcode":0,...}` or
//! `{"errcode":N,"errmsg":".."}`, as WeChat does; and how requests are read (the
//! `access_token` query parameter, JSON bodies whatever their content type).

use crate::app::Shared;
use crate::auth::Subject;
use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

/// A WeChat error answer: HTTP 200, `{"errcode","errmsg"}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WxError {
    /// WeChat's error code (never 0).
    pub errcode: i64,
    /// English text, WeChat's wording first, then herald's detail.
    pub errmsg: String,
    /// Extra fields of the answer (45065 carries the existing `msg_id`).
    pub extra: Option<Map<String, Value>>,
}

impl WxError {
    /// An error with its code and message.
    pub fn new(errcode: i64, errmsg: impl Into<String>) -> WxError {
        WxError {
            errcode,
            errmsg: errmsg.into(),
            extra: None,
        }
    }

    /// 47001: the body is not the JSON this API takes.
    pub fn bad_json(detail: impl std::fmt::Display) -> WxError {
        WxError::new(47001, format!("data format error: {detail}"))
    }

    /// -1: a failure on herald's side; retrying may help.
    pub fn system(detail: impl std::fmt::Display) -> WxError {
        WxError::new(-1, format!("system error: {detail}"))
    }
}

impl IntoResponse for WxError {
    fn into_response(self) -> Response {
        let mut body = self.extra.unwrap_or_default();
        body.insert("errcode".into(), json!(self.errcode));
        body.insert("errmsg".into(), json!(self.errmsg));
        (StatusCode::OK, Json(Value::Object(body))).into_response()
    }
}

/// A handler's result.
pub type WxResult = Result<Json<Value>, WxError>;

/// A success answer: `fields` with `errcode` 0 and `errmsg` (WeChat's wording).
pub fn success(errmsg: &str, fields: Value) -> WxResult {
    let mut body = match fields {
        Value::Object(map) => map,
        _ => Map::new(),
    };
    body.insert("errcode".into(), json!(0));
    body.insert("errmsg".into(), json!(errmsg));
    Ok(Json(Value::Object(body)))
}

/// A success answer without `errcode` (WeChat's read APIs answer bare data).
pub fn data(fields: Value) -> WxResult {
    Ok(Json(fields))
}

/// The value of query parameter `name`, percent-decoded.
pub fn query_param(query: Option<&str>, name: &str) -> Option<String> {
    query?.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (percent_decode(k) == name).then(|| percent_decode(v))
    })
}

fn percent_decode(s: &str) -> String {
    fn hex(b: u8) -> Option<u8> {
        (b as char).to_digit(16).map(|d| d as u8)
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The account whose access token the query carries: 41001 without one, 42001 when it has
/// expired, 40001 when it is not a live access token (forged, replaced more than the
/// overlap ago, a user token).
pub fn account(state: &Shared, query: Option<&str>) -> Result<u32, WxError> {
    let token = query_param(query, "access_token")
        .filter(|t| !t.is_empty())
        .ok_or_else(|| WxError::new(41001, "access_token missing"))?;
    match state.auth.token_str(&token) {
        Ok(Subject::Account(account)) => Ok(account),
        Ok(Subject::User(_)) => Err(WxError::new(
            40001,
            "invalid credential, access_token is invalid or not latest (a user token)",
        )),
        Err(e) if e.code == "token_expired" => Err(WxError::new(42001, "access_token expired")),
        Err(_) => Err(WxError::new(
            40001,
            "invalid credential, access_token is invalid or not latest",
        )),
    }
}

/// The body as a JSON object: 44002 when empty, 47001 when not JSON or not an object.
pub fn json_body(body: Result<Bytes, BytesRejection>) -> Result<Map<String, Value>, WxError> {
    let bytes = body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            WxError::new(45002, "content size out of limit: the body is too large")
        } else {
            WxError::bad_json(e.body_text())
        }
    })?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(WxError::new(44002, "empty post data"));
    }
    match serde_json::from_slice::<Value>(&bytes) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(WxError::bad_json("the body must be a JSON object")),
        Err(e) => Err(WxError::bad_json(e)),
    }
}

/// A field read leniently, as SDKs send them: numbers may come as strings.
pub fn uint(v: Option<&Value>) -> Option<u64> {
    match v? {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// A boolean read leniently: `true`/`false`, `1`/`0`, `"true"`/`"false"`/`"1"`/`"0"`;
/// `None` when absent or null.
pub fn flag(v: Option<&Value>) -> Result<Option<bool>, WxError> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(Value::Number(n)) => match n.as_u64() {
            Some(0) => Ok(Some(false)),
            Some(1) => Ok(Some(true)),
            _ => Err(WxError::bad_json(format!("{n} is not a boolean"))),
        },
        Some(Value::String(s)) => match s.trim() {
            "true" | "1" => Ok(Some(true)),
            "false" | "0" | "" => Ok(Some(false)),
            other => Err(WxError::bad_json(format!("{other:?} is not a boolean"))),
        },
        Some(other) => Err(WxError::bad_json(format!("{other} is not a boolean"))),
    }
}

/// A string field (numbers are taken as their decimal text).
pub fn string(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_params_decode() {
        let q = Some("a=1&access_token=x%2By+z&type=image");
        assert_eq!(query_param(q, "access_token").as_deref(), Some("x+y z"));
        assert_eq!(query_param(q, "type").as_deref(), Some("image"));
        assert_eq!(query_param(q, "b"), None);
        assert_eq!(query_param(Some("a=%4"), "a").as_deref(), Some("%4"));
        assert_eq!(query_param(Some("a=%zz"), "a").as_deref(), Some("%zz"));
    }

    #[test]
    fn lenient_fields() {
        assert_eq!(flag(Some(&json!("true"))).unwrap(), Some(true));
        assert_eq!(flag(Some(&json!(0))).unwrap(), Some(false));
        assert_eq!(flag(None).unwrap(), None);
        assert!(flag(Some(&json!("maybe"))).is_err());
        assert_eq!(uint(Some(&json!("134"))), Some(134));
        assert_eq!(uint(Some(&json!(-1))), None);
    }
}
