//! Recorded request sequences of Microsoft Entra ID and Okta (`tests/fixtures`, written
//! from their public documentation) replayed against the SCIM endpoints on both
//! frameworks: every step's status, the parts of each answer the step names (`json`, a
//! subset: objects by key, arrays element by element in any order), the lengths it names
//! (`length`, by JSON pointer) and what must be gone (`absent`). `{{name}}` in a path, a
//! body or an expected value is what an earlier step captured (`capture`: a JSON pointer
//! into its answer).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;

use pow_ext_scim::Scim;
use serde_json::Value;

mod common;

/// An app with organization `acme` (domain `acme.example` verified), and a SCIM client
/// with a token of it.
fn start() -> pow_actix::test_client::Client {
    let (config, token) = common::acme("http://localhost", Scim::new());
    common::scim_client(pow_testkit::serve(config), &token)
}

/// `text` with every `{{name}}` of `vars` filled in.
fn fill(text: &str, vars: &BTreeMap<String, String>) -> String {
    let mut out = text.to_owned();
    for (name, value) in vars {
        out = out.replace(&format!("{{{{{name}}}}}"), value);
    }
    out
}

/// Whether `actual` has everything `expected` names (objects by key, arrays element by
/// element in any order, anything else equal; strings compared as written).
fn contains(actual: &Value, expected: &Value) -> bool {
    match (actual, expected) {
        (Value::Object(have), Value::Object(want)) => want
            .iter()
            .all(|(key, value)| have.get(key).is_some_and(|got| contains(got, value))),
        (Value::Array(have), Value::Array(want)) => want
            .iter()
            .all(|value| have.iter().any(|got| contains(got, value))),
        (have, want) => have == want,
    }
}

fn replay(file: &str) {
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(file),
    )
    .unwrap();
    let recorded: Value = serde_json::from_str(&text).unwrap();
    let mut client = start();
    let mut vars: BTreeMap<String, String> = BTreeMap::new();
    let steps = recorded["steps"].as_array().unwrap();
    assert!(steps.len() > 20, "{file}: a whole sequence");
    for step in steps {
        let name = step["name"].as_str().unwrap_or("?");
        let method = step["method"].as_str().unwrap();
        let path = fill(step["path"].as_str().unwrap(), &vars);
        let body = match &step["body"] {
            Value::Null => None,
            body => Some(fill(&body.to_string(), &vars)),
        };
        let res = client.request(method, &format!("/scim/v2{path}"), body);
        let expect = &step["expect"];
        assert_eq!(
            u64::from(res.status),
            expect["status"].as_u64().unwrap(),
            "{file} {name}: {method} {path}: {}",
            res.body
        );
        if res.body.is_empty() {
            continue;
        }
        let answer: Value = serde_json::from_str(&res.body)
            .unwrap_or_else(|_| panic!("{file} {name}: not JSON: {}", res.body));
        if let Some(wanted) = expect.get("json") {
            let wanted: Value = serde_json::from_str(&fill(&wanted.to_string(), &vars)).unwrap();
            assert!(
                contains(&answer, &wanted),
                "{file} {name}: the answer lacks what the step names:\n{wanted:#}\nin\n{answer:#}"
            );
        }
        if let Some(Value::Object(lengths)) = expect.get("length") {
            for (pointer, length) in lengths {
                let have = answer
                    .pointer(pointer)
                    .and_then(Value::as_array)
                    .map_or(0, Vec::len);
                assert_eq!(
                    have as u64,
                    length.as_u64().unwrap(),
                    "{file} {name}: length of {pointer} in {answer:#}"
                );
            }
        }
        if let Some(Value::Array(gone)) = expect.get("absent") {
            for pointer in gone {
                let pointer = pointer.as_str().unwrap();
                let present = answer
                    .pointer(pointer)
                    .is_some_and(|value| !matches!(value, Value::Array(items) if items.is_empty()));
                assert!(!present, "{file} {name}: {pointer} is still in {answer:#}");
            }
        }
        if let Some(Value::Object(captures)) = step.get("capture") {
            for (var, pointer) in captures {
                let value = answer
                    .pointer(pointer.as_str().unwrap())
                    .and_then(Value::as_str)
                    .unwrap_or_else(|| panic!("{file} {name}: nothing at {pointer}"));
                vars.insert(var.clone(), value.to_owned());
            }
        }
    }
}

fn entra_sequence_replays() {
    replay("entra.json");
}

fn okta_sequence_replays() {
    replay("okta.json");
}

pow_testkit::on_both!(entra_sequence_replays, okta_sequence_replays);
