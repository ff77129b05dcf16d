//! `server/openapi.json` against the route table: the description lists exactly the
//! operations `routes::v1` routes, the running server serves each of them, and
//! `GET /v1/openapi.json` answers the file.

mod common;

use common::*;
use herald_server::routes::v1::OPERATIONS;
use serde_json::{Value, json};
use std::collections::BTreeSet;

fn document() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/openapi.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).expect("openapi.json is JSON")
}

/// `(METHOD, path)` of every operation the description lists.
fn documented(doc: &Value) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            out.insert((method.to_uppercase(), path.clone()));
        }
    }
    out
}

#[test]
fn the_description_lists_exactly_the_routed_operations() {
    let doc = document();
    assert_eq!(doc["openapi"], "3.1.0");
    let documented = documented(&doc);
    let routed: BTreeSet<(String, String)> = OPERATIONS
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    assert_eq!(
        routed.len(),
        OPERATIONS.len(),
        "an operation is routed twice"
    );
    let undocumented: Vec<_> = routed.difference(&documented).collect();
    let unrouted: Vec<_> = documented.difference(&routed).collect();
    assert!(
        undocumented.is_empty() && unrouted.is_empty(),
        "routed but not in openapi.json: {undocumented:?}; in openapi.json but not routed: {unrouted:?}"
    );
}

#[test]
fn every_operation_is_described_completely() {
    let doc = document();
    let schemes = doc["components"]["securitySchemes"].as_object().unwrap();
    let mut ids = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let at = format!("{method} {path}");
            let id = op["operationId"]
                .as_str()
                .unwrap_or_else(|| panic!("{at}: operationId"));
            assert!(ids.insert(id.to_string()), "{at}: operationId {id} twice");
            assert!(op["summary"].is_string(), "{at}: summary");
            // Every security requirement names a declared scheme.
            for req in op["security"]
                .as_array()
                .unwrap_or_else(|| panic!("{at}: security"))
            {
                for name in req.as_object().unwrap().keys() {
                    assert!(schemes.contains_key(name), "{at}: unknown scheme {name}");
                }
            }
            // Every path parameter of the template is declared, and nothing else.
            let in_template: BTreeSet<&str> = path
                .split('/')
                .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
                .collect();
            let declared: BTreeSet<&str> = op["parameters"]
                .as_array()
                .map(|ps| {
                    ps.iter()
                        .filter(|p| p["in"] == "path")
                        .map(|p| p["name"].as_str().unwrap())
                        .collect()
                })
                .unwrap_or_default();
            assert_eq!(in_template, declared, "{at}: path parameters");
            let responses = op["responses"].as_object().unwrap();
            assert!(
                // 101: a WebSocket upgrade.
                responses.keys().any(|s| s.starts_with('2') || s == "101"),
                "{at}: no success response"
            );
            let secured = !op["security"].as_array().unwrap().is_empty();
            if secured {
                assert!(responses.contains_key("401"), "{at}: no 401 response");
            }
            if matches!(method.as_str(), "post" | "put") && op.get("requestBody").is_some() {
                assert!(responses.contains_key("400"), "{at}: no 400 response");
            }
        }
    }
    // Every `$ref` resolves.
    fn refs(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                if let Some(Value::String(r)) = m.get("$ref") {
                    out.push(r.clone());
                }
                m.values().for_each(|x| refs(x, out));
            }
            Value::Array(a) => a.iter().for_each(|x| refs(x, out)),
            _ => {}
        }
    }
    let mut all = Vec::new();
    refs(&doc, &mut all);
    for r in all {
        let name = r
            .strip_prefix("#/components/schemas/")
            .expect("local schema ref");
        assert!(
            doc["components"]["schemas"].get(name).is_some(),
            "dangling $ref {r}"
        );
    }
}

/// The path with every `{param}` replaced by a plausible value.
fn concrete(path: &str) -> String {
    path.split('/')
        .map(|s| match s {
            "{open_id}" => "00000000000000ff",
            "{keyword}" => "hello",
            s if s.starts_with('{') => "0",
            s => s,
        })
        .collect::<Vec<_>>()
        .join("/")
}

#[test]
fn the_server_serves_every_described_operation() {
    let s = Server::start(&[]);
    let served: Value = s
        .client
        .get(s.url("/v1/openapi.json"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(served, document(), "GET /v1/openapi.json answers the file");
    for (method, path) in documented(&document()) {
        let url = s.url(&concrete(&path));
        let request = match method.as_str() {
            "GET" => s.client.get(url),
            "POST" => s.client.post(url).json(&json!({})),
            "PUT" => s.client.put(url).json(&json!({})),
            "DELETE" => s.client.delete(url),
            other => panic!("{other} {path}: unexpected method"),
        };
        let r = request.send().unwrap();
        let status = r.status().as_u16();
        let body: Value = r.json().unwrap_or(Value::Null);
        assert!(
            status != 405 && !(status == 404 && body["error"]["code"] == "not_found"),
            "{method} {path}: the server has no such route ({status} {body})"
        );
        // Without credentials, only the token exchange and the description answer.
        if path != "/v1/token" && path != "/v1/openapi.json" {
            assert_eq!(
                (status, body["error"]["code"].as_str()),
                (401, Some("missing_token")),
                "{method} {path} without a token"
            );
        }
    }
    // And a route that is not described is not served.
    err(
        s.get("/v1/accounts/0/nothing-here", ADMIN).send().unwrap(),
        404,
        "not_found",
    );
}
