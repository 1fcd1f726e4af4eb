//! The SCIM 2.0 endpoints (RFC 7644) under `/scim/v2`, as protocol endpoints of the engine:
//! every framework layer mounts them and only translates. Each request is authenticated by
//! its bearer token (signature first, then the table), counted against the token's rate
//! limit, and reaches only the token's organization: another organization's resource is
//! `404` like one that never was. Answers are `application/scim+json`; errors are SCIM's.

use std::sync::Arc;

use pow_core::pages::endpoints::{EndpointFuture, EndpointRequest, EndpointRoute};
use pow_core::pages::routes::Verb;
use pow_core::pages::HttpAnswer;
use pow_core::store::Limiter;
use pow_core::{PowConfig, PowError};
use serde_json::{json, Value};

use crate::provision::{self, Caller, Problem};
use crate::tokens::{TokenInfo, Tokens};
use crate::Scim;

/// The SCIM root, under the setup's mount point.
pub const ROOT: &str = "/scim/v2";
/// SCIM's media type.
pub const MEDIA_TYPE: &str = "application/scim+json";
/// The schema of a list answer.
const LIST_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
/// The schema of an error.
const ERROR_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:Error";

/// What a route does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Action {
    ServiceProviderConfig,
    ResourceTypes,
    ResourceType,
    Schemas,
    Schema,
    ListUsers,
    CreateUser,
    GetUser,
    ReplaceUser,
    PatchUser,
    DeleteUser,
    SearchUsers,
    SearchGroups,
    SearchAll,
    Unknown,
    ListGroups,
    CreateGroup,
    GetGroup,
    ReplaceGroup,
    PatchGroup,
    DeleteGroup,
}

/// The routes.
pub(crate) fn routes(scim: &Arc<Scim>) -> Vec<EndpointRoute> {
    let table: [(Verb, &'static str, Action); 25] = [
        (
            Verb::Get,
            "/scim/v2/ServiceProviderConfig",
            Action::ServiceProviderConfig,
        ),
        (Verb::Get, "/scim/v2/ResourceTypes", Action::ResourceTypes),
        (
            Verb::Get,
            "/scim/v2/ResourceTypes/{id}",
            Action::ResourceType,
        ),
        (Verb::Get, "/scim/v2/Schemas", Action::Schemas),
        (Verb::Get, "/scim/v2/Schemas/{id}", Action::Schema),
        (Verb::Get, "/scim/v2/Users", Action::ListUsers),
        (Verb::Post, "/scim/v2/Users", Action::CreateUser),
        // Before `{id}`: a framework that matches in order finds these first.
        (Verb::Post, "/scim/v2/Users/.search", Action::SearchUsers),
        (Verb::Post, "/scim/v2/Groups/.search", Action::SearchGroups),
        (Verb::Post, "/scim/v2/.search", Action::SearchAll),
        (Verb::Get, "/scim/v2/Users/{id}", Action::GetUser),
        (Verb::Put, "/scim/v2/Users/{id}", Action::ReplaceUser),
        (Verb::Patch, "/scim/v2/Users/{id}", Action::PatchUser),
        (Verb::Delete, "/scim/v2/Users/{id}", Action::DeleteUser),
        (Verb::Get, "/scim/v2/Groups", Action::ListGroups),
        (Verb::Post, "/scim/v2/Groups", Action::CreateGroup),
        (Verb::Get, "/scim/v2/Groups/{id}", Action::GetGroup),
        (Verb::Put, "/scim/v2/Groups/{id}", Action::ReplaceGroup),
        (Verb::Patch, "/scim/v2/Groups/{id}", Action::PatchGroup),
        (Verb::Delete, "/scim/v2/Groups/{id}", Action::DeleteGroup),
        // Any other resource under the root: SCIM's own `404`.
        (Verb::Get, "/scim/v2/{resource}", Action::Unknown),
        (Verb::Post, "/scim/v2/{resource}", Action::Unknown),
        (Verb::Put, "/scim/v2/{resource}", Action::Unknown),
        (Verb::Patch, "/scim/v2/{resource}", Action::Unknown),
        (Verb::Delete, "/scim/v2/{resource}", Action::Unknown),
    ];
    table
        .into_iter()
        .map(|(verb, path, action)| {
            let scim = Arc::clone(scim);
            EndpointRoute::new(verb, path, move |config, request| -> EndpointFuture {
                let scim = Arc::clone(&scim);
                Box::pin(async move {
                    match serve(&config, &scim, action, &request).await {
                        Ok(answer) => answer,
                        Err(err) => failure(&err),
                    }
                })
            })
            .of_extension(crate::NAME)
        })
        .collect()
}

/// A SCIM error answer.
pub(crate) fn error(problem: &Problem) -> HttpAnswer {
    let mut body = json!({
        "schemas": [ERROR_SCHEMA],
        "status": problem.status.to_string(),
        "detail": problem.detail,
    });
    if let Some(scim_type) = problem.scim_type {
        body["scimType"] = json!(scim_type);
    }
    document(problem.status, &body)
}

/// An engine failure as a SCIM error: its status, `Retry-After` where it has one, and no
/// detail that leaks.
fn failure(err: &PowError) -> HttpAnswer {
    err.log_answered();
    let status = err.http_status();
    let mut answer = error(&Problem::new(
        status,
        None,
        "the request could not be served",
    ));
    if let Some(secs) = err.retry_after_secs() {
        answer.headers.push(("retry-after", secs.to_string()));
    }
    answer
}

/// `value` as a SCIM document with `status`, never stored.
fn document(status: u16, value: &Value) -> HttpAnswer {
    let mut answer = HttpAnswer::json_document(status, value, Some("no-store"));
    for header in &mut answer.headers {
        if header.0 == "content-type" {
            header.1 = MEDIA_TYPE.to_owned();
        }
    }
    answer
}

/// A resource with its `ETag` (and `Location` when it was made).
fn resource(status: u16, value: &Value) -> HttpAnswer {
    let mut answer = document(status, value);
    if let Some(version) = value.pointer("/meta/version").and_then(Value::as_str) {
        answer.headers.push(("etag", version.to_owned()));
    }
    if status == 201 {
        if let Some(location) = value.pointer("/meta/location").and_then(Value::as_str) {
            answer.headers.push(("location", location.to_owned()));
        }
    }
    answer
}

/// The SCIM root URL: the setup's base URL (else the request's origin) and mount point.
fn base(config: &PowConfig, request: &EndpointRequest) -> String {
    let origin = config
        .base_url()
        .map(str::to_owned)
        .or_else(|| request.origin().map(str::to_owned))
        .unwrap_or_default();
    let path = config.routes().extension_route(crate::NAME, ROOT);
    format!(
        "{}{}{path}",
        origin.trim_end_matches('/'),
        config.mount_path().trim_end_matches('/')
    )
}

/// The token of `request`, or the `401` answer.
async fn authenticate(
    config: &PowConfig,
    scim: &Scim,
    request: &EndpointRequest,
) -> Result<Result<TokenInfo, HttpAnswer>, PowError> {
    let presented = request
        .header("authorization")
        .and_then(|value| {
            let (scheme, token) = value.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        })
        .unwrap_or_default();
    let token = if presented.is_empty() {
        None
    } else {
        Tokens::new(config)?.authenticate(presented).await?
    };
    let Some(token) = token else {
        let mut answer = error(&Problem::new(401, None, "a valid bearer token is required"));
        answer
            .headers
            .push(("www-authenticate", "Bearer realm=\"scim\"".to_owned()));
        return Ok(Err(answer));
    };
    if !Limiter::new(config, "scim_token")
        .hit(scim.token_limit, &token.id)
        .await?
    {
        let mut answer = error(&Problem::new(
            429,
            None,
            "too many requests with this token",
        ));
        answer.headers.push((
            "retry-after",
            scim.token_limit.per.as_secs().max(1).to_string(),
        ));
        return Ok(Err(answer));
    }
    Ok(Ok(token))
}

/// The body as JSON, or the `400` answer.
fn json_body(request: &EndpointRequest) -> Result<Value, HttpAnswer> {
    serde_json::from_slice(&request.body).map_err(|_| {
        error(&Problem::new(
            400,
            Some("invalidSyntax"),
            "the body is not valid JSON",
        ))
    })
}

async fn serve(
    config: &PowConfig,
    scim: &Scim,
    action: Action,
    request: &EndpointRequest,
) -> Result<HttpAnswer, PowError> {
    let token = match authenticate(config, scim, request).await? {
        Ok(token) => token,
        Err(answer) => return Ok(answer),
    };
    let base = base(config, request);
    let caller = Caller {
        config,
        scim,
        token: &token,
    };
    let id = request.params.get("id").unwrap_or_default().to_owned();
    let if_match = request.header("if-match");
    let body = || json_body(request);
    macro_rules! body_or_answer {
        () => {
            match body() {
                Ok(body) => body,
                Err(answer) => return Ok(answer),
            }
        };
    }
    Ok(match action {
        Action::ServiceProviderConfig => {
            document(200, &crate::schemas::service_provider_config(&base, scim))
        }
        Action::ResourceTypes => list(crate::schemas::resource_types(&base), request, false)?,
        Action::ResourceType => match crate::schemas::resource_types(&base)
            .into_iter()
            .find(|kind| kind.get("id").and_then(Value::as_str) == Some(id.as_str()))
        {
            Some(kind) => document(200, &kind),
            None => error(&Problem::not_found()),
        },
        Action::Schemas => list(crate::schemas::schemas(&base), request, false)?,
        Action::Schema => match crate::schemas::schemas(&base)
            .into_iter()
            .find(|schema| schema.get("id").and_then(Value::as_str) == Some(id.as_str()))
        {
            Some(schema) => document(200, &schema),
            None => error(&Problem::not_found()),
        },
        Action::ListUsers => {
            let users = caller_store(&caller)?.users(&token.organization_id).await?;
            let resources = users
                .iter()
                .map(|user| provision::user_resource(user, &base))
                .collect();
            list(resources, request, true)?
        }
        Action::GetUser => match caller_store(&caller)?
            .user(&token.organization_id, &id)
            .await?
        {
            Some(user) => resource(
                200,
                &project(provision::user_resource(&user, &base), request),
            ),
            None => error(&Problem::not_found()),
        },
        Action::CreateUser => {
            let body = body_or_answer!();
            written(
                provision::create_user(&caller, body)
                    .await?
                    .map(|user| provision::user_resource(&user, &base)),
                201,
            )
        }
        Action::ReplaceUser => {
            let body = body_or_answer!();
            written(
                provision::replace_user(&caller, &id, body, if_match)
                    .await?
                    .map(|user| provision::user_resource(&user, &base)),
                200,
            )
        }
        Action::PatchUser => {
            let body = body_or_answer!();
            written(
                provision::patch_user(&caller, &id, &body, if_match)
                    .await?
                    .map(|user| provision::user_resource(&user, &base)),
                200,
            )
        }
        Action::DeleteUser => match provision::delete_user(&caller, &id, if_match).await? {
            Ok(()) => no_content(),
            Err(problem) => error(&problem),
        },
        Action::SearchUsers | Action::SearchGroups => {
            // RFC 7644 §3.4.3: the query's parameters in a JSON body.
            let body = body_or_answer!();
            let searched = searched_request(request, &body);
            let resources = if action == Action::SearchUsers {
                caller_store(&caller)?
                    .users(&token.organization_id)
                    .await?
                    .iter()
                    .map(|user| provision::user_resource(user, &base))
                    .collect()
            } else {
                caller_store(&caller)?
                    .groups(&token.organization_id)
                    .await?
                    .iter()
                    .map(|group| provision::group_resource(group, &base))
                    .collect()
            };
            list(resources, &searched, true)?
        }
        Action::SearchAll => error(&Problem::new(
            501,
            None,
            "searching every resource type at once is not supported: search /Users or /Groups",
        )),
        Action::Unknown => error(&Problem::not_found()),
        Action::ListGroups => {
            let groups = caller_store(&caller)?
                .groups(&token.organization_id)
                .await?;
            let resources = groups
                .iter()
                .map(|group| provision::group_resource(group, &base))
                .collect();
            list(resources, request, true)?
        }
        Action::GetGroup => match caller_store(&caller)?
            .group(&token.organization_id, &id)
            .await?
        {
            Some(group) => resource(
                200,
                &project(provision::group_resource(&group, &base), request),
            ),
            None => error(&Problem::not_found()),
        },
        Action::CreateGroup => {
            let body = body_or_answer!();
            written(
                provision::create_group(&caller, body)
                    .await?
                    .map(|group| provision::group_resource(&group, &base)),
                201,
            )
        }
        Action::ReplaceGroup => {
            let body = body_or_answer!();
            written(
                provision::replace_group(&caller, &id, body, if_match)
                    .await?
                    .map(|group| provision::group_resource(&group, &base)),
                200,
            )
        }
        Action::PatchGroup => {
            let body = body_or_answer!();
            written(
                provision::patch_group(&caller, &id, &body, if_match)
                    .await?
                    .map(|group| provision::group_resource(&group, &base)),
                200,
            )
        }
        Action::DeleteGroup => match provision::delete_group(&caller, &id, if_match).await? {
            Ok(()) => no_content(),
            Err(problem) => error(&problem),
        },
    })
}

/// `request` with the parameters of a `.search` body as its query (`filter`,
/// `startIndex`, `count`, `attributes`, `excludedAttributes`).
fn searched_request(request: &EndpointRequest, body: &Value) -> EndpointRequest {
    let mut pairs: Vec<(String, String)> = Vec::new();
    for name in [
        "filter",
        "startIndex",
        "count",
        "attributes",
        "excludedAttributes",
    ] {
        let value = match body.get(name) {
            Some(Value::String(text)) => text.clone(),
            Some(Value::Number(n)) => n.to_string(),
            Some(Value::Array(items)) => items
                .iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(","),
            _ => continue,
        };
        pairs.push((name.to_owned(), value));
    }
    let query = pairs
        .iter()
        .map(|(name, value)| format!("{name}={}", encode(value)))
        .collect::<Vec<_>>()
        .join("&");
    EndpointRequest {
        query,
        ..request.clone()
    }
}

/// `text` percent-encoded for a query value.
fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn caller_store(caller: &Caller<'_>) -> Result<crate::store::Store, PowError> {
    crate::store::Store::new(caller.config, caller.scim.max_resources)
}

fn written(outcome: Result<Value, Problem>, status: u16) -> HttpAnswer {
    match outcome {
        Ok(value) => resource(status, &value),
        Err(problem) => error(&problem),
    }
}

fn no_content() -> HttpAnswer {
    HttpAnswer {
        status: 204,
        headers: vec![("cache-control", "no-store".to_owned())],
        body: None,
    }
}

/// `resources` as a list answer: filtered (`filter`, when `filterable`), then the page
/// `startIndex` (1-based) and `count` (at most 200) ask for, each projected by
/// `attributes` / `excludedAttributes`.
fn list(
    resources: Vec<Value>,
    request: &EndpointRequest,
    filterable: bool,
) -> Result<HttpAnswer, PowError> {
    let query = request.query_params();
    let matching: Vec<Value> = match query.get("filter").filter(|text| !text.trim().is_empty()) {
        Some(text) if filterable => match crate::filter::parse(text) {
            Ok(filter) => resources
                .into_iter()
                .filter(|r| filter.matches(r))
                .collect(),
            Err(err) => {
                return Ok(error(&Problem::new(
                    400,
                    Some("invalidFilter"),
                    err.to_string(),
                )))
            }
        },
        Some(_) => {
            return Ok(error(&Problem::new(
                403,
                None,
                "these resources cannot be filtered",
            )))
        }
        None => resources,
    };
    let start = query
        .get("startIndex")
        .and_then(|n| n.parse::<i64>().ok())
        .unwrap_or(1)
        .max(1);
    let count = query
        .get("count")
        .and_then(|n| n.parse::<i64>().ok())
        .unwrap_or(crate::schemas::MAX_RESULTS as i64)
        .clamp(0, crate::schemas::MAX_RESULTS as i64);
    let total = matching.len();
    let page: Vec<Value> = matching
        .into_iter()
        .skip(usize::try_from(start - 1).unwrap_or(usize::MAX))
        .take(usize::try_from(count).unwrap_or(0))
        .map(|item| project(item, request))
        .collect();
    Ok(document(
        200,
        &json!({
            "schemas": [LIST_SCHEMA],
            "totalResults": total,
            "startIndex": start,
            "itemsPerPage": page.len(),
            "Resources": page,
        }),
    ))
}

/// `resource` with only the `attributes` asked for (and `id`, `schemas`, `meta`, which are
/// always returned), or without the `excludedAttributes`.
fn project(mut resource: Value, request: &EndpointRequest) -> Value {
    let query = request.query_params();
    let names = |param: &str| -> Vec<String> {
        query
            .get(param)
            .map(|list| {
                list.split(',')
                    .map(|name| {
                        let name = name.trim();
                        // A URN-qualified name: its attribute, after the schema.
                        let short = name.rsplit(':').next().unwrap_or(name);
                        short
                            .split('.')
                            .next()
                            .unwrap_or(short)
                            .to_ascii_lowercase()
                    })
                    .filter(|name| !name.is_empty())
                    .collect()
            })
            .unwrap_or_default()
    };
    let (keep, drop_) = (names("attributes"), names("excludedAttributes"));
    if let Value::Object(map) = &mut resource {
        let always = |key: &str| matches!(key, "id" | "schemas" | "meta");
        if !keep.is_empty() {
            map.retain(|key, _| always(key) || keep.contains(&key.to_ascii_lowercase()));
        } else if !drop_.is_empty() {
            map.retain(|key, _| always(key) || !drop_.contains(&key.to_ascii_lowercase()));
        }
    }
    resource
}
