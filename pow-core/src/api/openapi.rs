//! The OpenAPI 3.1 document of the JSON API, assembled from what the core and each enabled
//! extension contribute ([`ApiSide::openapi`](super::ApiSide)), so it lists exactly the
//! flows a setup serves.

use serde_json::{json, Map, Value};

use super::ApiService;
use crate::error::PowError;

/// The core's contribution: its paths and the components every extension may refer to
/// (`Error`, `TokenPair`, the security schemes, ...).
const CORE: &str = include_str!("openapi.json");

/// The OpenAPI version of the document.
pub const OPENAPI_VERSION: &str = "3.1.0";

/// Parses a contribution shipped as JSON text (`include_str!`), for
/// [`ExtensionBuilder::api_document`](crate::extension::ExtensionBuilder::api_document): `{"paths": {...},
/// "components": {...}, "tags": [...]}`. A text that does not parse is logged and left
/// out (each shipped one is checked by a test).
pub fn openapi_fragment(name: &str, json: &str) -> Option<Value> {
    match serde_json::from_str(json) {
        Ok(value) => Some(value),
        Err(err) => {
            tracing::error!(extension = name, error = %err, "an OpenAPI contribution does not parse");
            None
        }
    }
}

/// Adds `fragment` (from `source`) to `doc`: its paths, components and tags. A path
/// operation or a component that is there already with other content is an error.
fn merge(doc: &mut Map<String, Value>, source: &str, fragment: &Value) -> Result<(), PowError> {
    let clash = |what: String| {
        PowError::Config(format!(
            "the OpenAPI contribution of {source} documents {what} a second time, differently"
        ))
    };
    if let Some(paths) = fragment.get("paths").and_then(Value::as_object) {
        let all = object(doc, "paths");
        for (path, item) in paths {
            let Some(item) = item.as_object() else {
                continue;
            };
            let entry = object(all, path);
            for (method, operation) in item {
                match entry.get(method) {
                    Some(existing) if existing != operation => {
                        return Err(clash(format!("{method} {path}")));
                    }
                    _ => {
                        entry.insert(method.clone(), operation.clone());
                    }
                }
            }
        }
    }
    if let Some(components) = fragment.get("components").and_then(Value::as_object) {
        let all = object(doc, "components");
        for (kind, named) in components {
            let Some(named) = named.as_object() else {
                continue;
            };
            let entry = object(all, kind);
            for (name, component) in named {
                match entry.get(name) {
                    Some(existing) if existing != component => {
                        return Err(clash(format!("components/{kind}/{name}")));
                    }
                    _ => {
                        entry.insert(name.clone(), component.clone());
                    }
                }
            }
        }
    }
    if let Some(tags) = fragment.get("tags").and_then(Value::as_array) {
        let all = doc
            .entry("tags")
            .or_insert_with(|| Value::Array(Vec::new()));
        if let Value::Array(all) = all {
            for tag in tags {
                if !all.iter().any(|t| t.get("name") == tag.get("name")) {
                    all.push(tag.clone());
                }
            }
        }
    }
    Ok(())
}

/// The object under `key` in `map`, made when missing (or not an object).
fn object<'a>(map: &'a mut Map<String, Value>, key: &str) -> &'a mut Map<String, Value> {
    let entry = map
        .entry(key.to_owned())
        .or_insert_with(|| Value::Object(Map::new()));
    if !entry.is_object() {
        *entry = Value::Object(Map::new());
    }
    match entry {
        Value::Object(map) => map,
        _ => unreachable!("the entry was made an object above"),
    }
}

/// The answers every operation may give, added where an operation does not list them:
/// `429` (a rate limit or lock), `503` (busy, or a store that is down), `400` for one
/// that takes a body, and `401` with a pending step for one that signs in (answers a
/// token pair): whichever extension asks for the step, every sign-in may be held. (An
/// operation that lists a `401` of its own says so in it; its schema is the same.)
fn add_common_answers(doc: &mut Map<String, Value>) {
    let Some(Value::Object(paths)) = doc.get_mut("paths") else {
        return;
    };
    for item in paths.values_mut() {
        let Some(item) = item.as_object_mut() else {
            continue;
        };
        for (method, operation) in item.iter_mut() {
            if !matches!(method.as_str(), "get" | "post" | "put" | "patch" | "delete") {
                continue;
            }
            let has_body = operation.get("requestBody").is_some();
            let signs_in = ["200", "201"].iter().any(|status| {
                operation.pointer(&format!("/responses/{status}/$ref"))
                    == Some(&json!("#/components/responses/TokenPair"))
            });
            let Some(operation) = operation.as_object_mut() else {
                continue;
            };
            let responses = object(operation, "responses");
            let mut common = vec![("429", "RateLimited"), ("503", "Busy")];
            if has_body {
                common.push(("400", "BadRequest"));
            }
            if signs_in {
                common.push(("401", "StepPending"));
            }
            for (status, name) in common {
                responses
                    .entry(status)
                    .or_insert_with(|| json!({ "$ref": format!("#/components/responses/{name}") }));
            }
        }
    }
}

/// The document of `api`: the core's paths, then each JSON extension's, in order, then the
/// app's own ([`ApiOptions::openapi_fragment`](super::ApiOptions::openapi_fragment)).
pub(crate) fn document(api: &ApiService) -> Result<Value, PowError> {
    let options = api.options();
    let prefix = if api.prefix().is_empty() {
        "/"
    } else {
        api.prefix()
    };
    let mut doc = Map::new();
    doc.insert("openapi".into(), json!(OPENAPI_VERSION));
    doc.insert(
        "info".into(),
        json!({
            "title": options.openapi_title,
            "version": options.openapi_version,
            "description": "Sign-up, sign-in and every flow of the enabled extensions, as JSON. \
                Every answer is one envelope: `status`, then `data` (and `meta`) on success, \
                `errors` (`code`, `message`, `param`) on failure. Clients branch on `status` \
                and `errors[0].code`, never on `message`; texts follow `Accept-Language`. A \
                `401` with `data.pending` lists the steps a sign-in or an action still needs.",
        }),
    );
    doc.insert("servers".into(), json!([{ "url": prefix }]));
    let core = serde_json::from_str::<Value>(CORE)
        .map_err(|err| PowError::Config(format!("the core's OpenAPI text: {err}")))?;
    merge(&mut doc, "pow-core", &core)?;
    for side in api.sides() {
        if let Some(fragment) = &side.openapi {
            merge(&mut doc, side.name, fragment)?;
        }
    }
    for fragment in &options.openapi_fragments {
        merge(&mut doc, "the app", fragment)?;
    }
    if let Some(path) = &options.openapi_path {
        let served = json!({ "paths": { path.as_str(): { "get": {
            "tags": ["session"],
            "summary": "This document",
            "operationId": "openapi",
            "responses": { "200": {
                "description": "The OpenAPI document of this API.",
                "content": { "application/json": { "schema": {
                    "type": "object",
                    "required": ["openapi", "info", "paths"],
                    "properties": {
                        "openapi": { "type": "string", "example": OPENAPI_VERSION },
                        "info": {
                            "type": "object",
                            "required": ["title", "version"],
                            "properties": {
                                "title": { "type": "string" },
                                "version": { "type": "string" },
                                "description": { "type": "string" }
                            }
                        },
                        "servers": { "type": "array", "items": {
                            "type": "object",
                            "required": ["url"],
                            "properties": {
                                "url": { "type": "string" },
                                "description": { "type": "string" }
                            }
                        } },
                        "paths": { "type": "object", "additionalProperties": { "type": "object", "additionalProperties": true } },
                        "components": { "type": "object", "additionalProperties": { "type": "object", "additionalProperties": true } },
                        "tags": { "type": "array", "items": {
                            "type": "object",
                            "required": ["name"],
                            "properties": {
                                "name": { "type": "string" },
                                "description": { "type": "string" }
                            }
                        } }
                    }
                } } }
            } }
        } } } });
        merge(&mut doc, "pow-core", &served)?;
    }
    add_common_answers(&mut doc);
    if let Some(browser) = options.browser_prefix() {
        add_browser_transport(&mut doc, &browser, &api.config().session().cookie_name);
    }
    Ok(Value::Object(doc))
}

/// Documents the browser transport: a second server, the session cookie as an
/// alternative to the access token on every operation that takes one, and sign-in answers
/// whose tokens only the bearer transport carries.
fn add_browser_transport(doc: &mut Map<String, Value>, prefix: &str, cookie: &str) {
    if let Some(Value::Array(servers)) = doc.get_mut("servers") {
        if let Some(Value::Object(app)) = servers.first_mut() {
            app.insert(
                "description".into(),
                json!("App clients: `Authorization: Bearer <access token>`."),
            );
        }
        servers.push(json!({
            "url": prefix,
            "description": "Browser clients on this site: the session cookie. State changes \
                need an `Origin` the server trusts (else `403 cross_site_request`); sign-ins \
                set the cookie and answer no tokens; `POST /session/renew` is not served.",
        }));
    }
    let components = doc
        .entry("components")
        .or_insert_with(|| json!({}))
        .as_object_mut();
    if let Some(components) = components {
        let schemes = components
            .entry("securitySchemes")
            .or_insert_with(|| json!({}));
        if let Some(schemes) = schemes.as_object_mut() {
            schemes.insert(
                "sessionCookie".into(),
                json!({ "type": "apiKey", "in": "cookie", "name": cookie,
                    "description": "The session cookie of the browser transport." }),
            );
        }
        let data = components
            .get_mut("schemas")
            .and_then(|schemas| schemas.get_mut("TokenPairResponse"))
            .and_then(|schema| schema.pointer_mut("/properties/data"))
            .and_then(Value::as_object_mut);
        if let Some(data) = data {
            // The browser transport answers the same object without the tokens.
            data.remove("required");
        }
    }
    let operations = doc
        .get_mut("paths")
        .and_then(Value::as_object_mut)
        .into_iter()
        .flat_map(|paths| paths.values_mut())
        .filter_map(Value::as_object_mut)
        .flat_map(|item| item.values_mut());
    for operation in operations {
        let Some(Value::Array(security)) = operation.get_mut("security") else {
            continue;
        };
        if security.iter().any(|req| req.get("accessToken").is_some()) {
            security.push(json!({ "sessionCookie": [] }));
        }
    }
}

/// The paths of `doc`, as the routes write them (`/sessions/{id}`).
pub fn documented_paths(doc: &Value) -> Vec<String> {
    doc.get("paths")
        .and_then(Value::as_object)
        .map(|paths| paths.keys().cloned().collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merging_refuses_a_different_second_copy() {
        let mut doc = Map::new();
        let a = json!({ "paths": { "/a": { "get": { "summary": "a" } } },
            "components": { "schemas": { "A": { "type": "string" } } },
            "tags": [{ "name": "t" }] });
        merge(&mut doc, "one", &a).unwrap();
        // The same again is fine, and adds nothing.
        merge(&mut doc, "two", &a).unwrap();
        assert_eq!(doc["tags"].as_array().unwrap().len(), 1);
        let b = json!({ "paths": { "/a": { "post": { "summary": "b" } } } });
        merge(&mut doc, "two", &b).unwrap();
        assert_eq!(doc["paths"]["/a"].as_object().unwrap().len(), 2);
        let clash = json!({ "components": { "schemas": { "A": { "type": "integer" } } } });
        let err = merge(&mut doc, "three", &clash).unwrap_err();
        assert!(err.to_string().contains("three"), "{err}");
        let clash = json!({ "paths": { "/a": { "get": { "summary": "other" } } } });
        assert!(merge(&mut doc, "four", &clash).is_err());
    }

    #[test]
    fn the_core_contribution_parses() {
        let core: Value = serde_json::from_str(CORE).unwrap();
        assert!(core["paths"]["/session"]["post"].is_object());
        assert!(core["components"]["schemas"]["Error"].is_object());
    }
}
