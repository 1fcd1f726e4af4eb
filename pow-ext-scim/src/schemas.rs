//! The discovery documents (RFC 7643 §5–7): what the server supports, its resource types
//! and the schemas of their attributes, which providers read before they write.

use serde_json::{json, Value};

use crate::Scim;

/// The most resources one list answer holds (`count` is capped to it).
pub const MAX_RESULTS: usize = 200;

/// The core User schema's id.
pub const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
/// The core Group schema's id.
pub const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
/// The enterprise User extension's id.
pub const ENTERPRISE_SCHEMA: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

fn meta(base: &str, kind: &str, path: &str) -> Value {
    json!({ "resourceType": kind, "location": format!("{base}/{path}") })
}

/// `/ServiceProviderConfig`.
pub fn service_provider_config(base: &str, scim: &Scim) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],
        "documentationUri": "https://github.com/pow-rs/pow-rs/blob/main/guides/scim.md",
        "patch": { "supported": true },
        "bulk": { "supported": false, "maxOperations": 0, "maxPayloadSize": 0 },
        "filter": { "supported": true, "maxResults": MAX_RESULTS },
        "changePassword": { "supported": false },
        "sort": { "supported": false },
        "etag": { "supported": true },
        "authenticationSchemes": [{
            "type": "oauthbearertoken",
            "name": "Bearer token",
            "description": format!(
                "A token an admin of the organization makes on its provisioning page; {} requests a minute each.",
                scim.token_limit.max
            ),
            "primary": true,
        }],
        "meta": meta(base, "ServiceProviderConfig", "ServiceProviderConfig"),
    })
}

/// `/ResourceTypes`.
pub fn resource_types(base: &str) -> Vec<Value> {
    vec![
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"],
            "id": "User",
            "name": "User",
            "endpoint": "/Users",
            "description": "A member of the organization",
            "schema": USER_SCHEMA,
            "schemaExtensions": [{ "schema": ENTERPRISE_SCHEMA, "required": false }],
            "meta": meta(base, "ResourceType", "ResourceTypes/User"),
        }),
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"],
            "id": "Group",
            "name": "Group",
            "endpoint": "/Groups",
            "description": "A group of the organization's members, mapped onto a role",
            "schema": GROUP_SCHEMA,
            "schemaExtensions": [],
            "meta": meta(base, "ResourceType", "ResourceTypes/Group"),
        }),
    ]
}

/// An attribute's definition.
fn attribute(name: &str, kind: &str, multi: bool, required: bool, extra: Value) -> Value {
    let mut definition = json!({
        "name": name,
        "type": kind,
        "multiValued": multi,
        "description": "",
        "required": required,
        "caseExact": false,
        "mutability": "readWrite",
        "returned": "default",
        "uniqueness": "none",
    });
    if let (Value::Object(into), Value::Object(from)) = (&mut definition, extra) {
        into.extend(from);
    }
    definition
}

fn string(name: &str) -> Value {
    attribute(name, "string", false, false, json!({}))
}

fn complex(name: &str, multi: bool, subs: Vec<Value>) -> Value {
    attribute(
        name,
        "complex",
        multi,
        false,
        json!({ "subAttributes": subs }),
    )
}

fn typed_values(name: &str, types: &[&str]) -> Value {
    complex(
        name,
        true,
        vec![
            string("value"),
            string("display"),
            attribute(
                "type",
                "string",
                false,
                false,
                json!({ "canonicalValues": types }),
            ),
            attribute("primary", "boolean", false, false, json!({})),
        ],
    )
}

/// `/Schemas`.
pub fn schemas(base: &str) -> Vec<Value> {
    let user = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Schema"],
        "id": USER_SCHEMA,
        "name": "User",
        "description": "User Account",
        "attributes": [
            attribute("userName", "string", false, true, json!({ "uniqueness": "server" })),
            complex("name", false, vec![
                string("formatted"), string("familyName"), string("givenName"),
                string("middleName"), string("honorificPrefix"), string("honorificSuffix"),
            ]),
            string("displayName"),
            string("nickName"),
            attribute("profileUrl", "reference", false, false, json!({ "referenceTypes": ["external"] })),
            string("title"),
            string("userType"),
            string("preferredLanguage"),
            string("locale"),
            string("timezone"),
            attribute("active", "boolean", false, false, json!({})),
            typed_values("emails", &["work", "home", "other"]),
            typed_values("phoneNumbers", &["work", "home", "mobile", "fax", "pager", "other"]),
            complex("addresses", true, vec![
                string("formatted"), string("streetAddress"), string("locality"),
                string("region"), string("postalCode"), string("country"), string("type"),
                attribute("primary", "boolean", false, false, json!({})),
            ]),
            complex("groups", true, vec![
                attribute("value", "string", false, false, json!({ "mutability": "readOnly" })),
                attribute("display", "string", false, false, json!({ "mutability": "readOnly" })),
            ]),
            complex("roles", true, vec![string("value"), string("display"), string("type"), attribute("primary", "boolean", false, false, json!({}))]),
        ],
        "meta": meta(base, "Schema", &format!("Schemas/{USER_SCHEMA}")),
    });
    // `groups` is the server's: read only.
    let mut user = user;
    if let Some(Value::Array(attributes)) = user.get_mut("attributes") {
        for definition in attributes.iter_mut() {
            if definition.get("name") == Some(&json!("groups")) {
                definition["mutability"] = json!("readOnly");
            }
        }
    }
    let group = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Schema"],
        "id": GROUP_SCHEMA,
        "name": "Group",
        "description": "Group",
        "attributes": [
            attribute("displayName", "string", false, true, json!({ "uniqueness": "server" })),
            complex("members", true, vec![
                attribute("value", "string", false, false, json!({ "mutability": "immutable", "caseExact": true })),
                attribute("$ref", "reference", false, false, json!({ "mutability": "immutable", "referenceTypes": ["User"] })),
                attribute("display", "string", false, false, json!({ "mutability": "readOnly" })),
                attribute("type", "string", false, false, json!({ "mutability": "immutable", "canonicalValues": ["User"] })),
            ]),
        ],
        "meta": meta(base, "Schema", &format!("Schemas/{GROUP_SCHEMA}")),
    });
    let enterprise = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Schema"],
        "id": ENTERPRISE_SCHEMA,
        "name": "EnterpriseUser",
        "description": "Enterprise User",
        "attributes": [
            string("employeeNumber"),
            string("costCenter"),
            string("organization"),
            string("division"),
            string("department"),
            complex("manager", false, vec![
                string("value"),
                attribute("$ref", "reference", false, false, json!({ "referenceTypes": ["User"] })),
                attribute("displayName", "string", false, false, json!({ "mutability": "readOnly" })),
            ]),
        ],
        "meta": meta(base, "Schema", &format!("Schemas/{ENTERPRISE_SCHEMA}")),
    });
    vec![user, group, enterprise]
}
