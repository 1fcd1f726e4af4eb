//! The decisions of provisioning, made once for the SCIM endpoints: a user written by the
//! organization's provider becomes (or links) an account at one of its verified domains
//! and a membership; deactivating or deleting one ends the membership (disables an account
//! the provisioning made) and every credential on the next request of every node; groups
//! map onto roles. Nothing here knows HTTP: [`crate::endpoints`] renders the outcomes.

use pow_core::audit::{self, AuditEvent, EventName};
use pow_core::users::{Params, User, Value as UserValue};
use pow_core::{PowConfig, PowError};
use pow_ext_organizations::{flows as orgs, Refused};
use serde_json::{json, Map, Value};

use crate::store::{Conflict, ScimGroup, ScimUser, Store};
use crate::tokens::TokenInfo;
use crate::{events, Scim};

/// Why a write was refused, as SCIM answers it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// The HTTP status.
    pub status: u16,
    /// SCIM's `scimType`, when it has one.
    pub scim_type: Option<&'static str>,
    /// What to fix.
    pub detail: String,
}

impl Problem {
    /// `status` with `scim_type` and `detail`.
    pub fn new(status: u16, scim_type: Option<&'static str>, detail: impl Into<String>) -> Self {
        Self {
            status,
            scim_type,
            detail: detail.into(),
        }
    }

    fn invalid(detail: impl Into<String>) -> Self {
        Self::new(400, Some("invalidValue"), detail)
    }

    fn taken(detail: impl Into<String>) -> Self {
        Self::new(409, Some("uniqueness"), detail)
    }

    /// `404`: no such resource in the token's organization.
    pub fn not_found() -> Self {
        Self::new(404, None, "no such resource")
    }

    fn changed() -> Self {
        Self::new(412, None, "the resource changed since it was read")
    }

    fn last_owner() -> Self {
        Self::new(
            409,
            Some("mutability"),
            "the organization's last owner cannot be deprovisioned",
        )
    }
}

/// A call's context: the setup, the extension's settings, the token and its organization.
pub struct Caller<'a> {
    /// The setup.
    pub config: &'a PowConfig,
    /// The extension's settings.
    pub scim: &'a Scim,
    /// The token the provider presented.
    pub token: &'a TokenInfo,
}

impl Caller<'_> {
    fn org(&self) -> &str {
        &self.token.organization_id
    }

    fn store(&self) -> Result<Store, PowError> {
        Store::new(self.config, self.scim.max_resources)
    }

    /// An audit event of this call: the organization and the token's name.
    fn event(&self, name: EventName) -> AuditEvent {
        AuditEvent::new(name)
            .detail("organization", self.org().to_owned())
            .detail("token", self.token.name.clone())
    }
}

/// The attributes kept as written, without what the server owns (`id`, `meta`,
/// `schemas`) and with SCIM's tolerances applied (string booleans, a `manager` string).
fn writable(mut resource: Value) -> Result<Map<String, Value>, Problem> {
    crate::patch::normalize(&mut resource);
    let Value::Object(mut map) = resource else {
        return Err(Problem::new(
            400,
            Some("invalidSyntax"),
            "the body is not a JSON object",
        ));
    };
    // `password` is never kept nor returned: accounts made here have none (they sign in
    // through the organization's provider), and a password is not a SCIM attribute to
    // store as written.
    map.retain(|key, _| {
        !matches!(
            key.to_ascii_lowercase().as_str(),
            "id" | "meta" | "schemas" | "password"
        )
    });
    Ok(map)
}

/// The value of attribute `name` (case-insensitive) in `map`.
fn attr<'m>(map: &'m Map<String, Value>, name: &str) -> Option<&'m Value> {
    map.iter()
        .find(|(key, _)| key.eq_ignore_ascii_case(name))
        .map(|(_, value)| value)
}

/// The facts of a user resource the server acts on.
struct UserFacts {
    user_name: String,
    external_id: Option<String>,
    active: bool,
    email: String,
    name: Option<String>,
}

fn user_facts(map: &Map<String, Value>) -> Result<UserFacts, Problem> {
    let user_name = attr(map, "userName")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|name| !name.is_empty() && name.len() <= 256)
        .ok_or_else(|| Problem::invalid("userName is required (at most 256 characters)"))?
        .to_owned();
    let external_id = match attr(map, "externalId") {
        None | Some(Value::Null) => None,
        Some(Value::String(id)) if id.len() <= 256 => Some(id.clone()),
        Some(_) => return Err(Problem::invalid("externalId must be a string")),
    };
    let active = match attr(map, "active") {
        None | Some(Value::Null) => true,
        Some(Value::Bool(active)) => *active,
        Some(_) => return Err(Problem::invalid("active must be a boolean")),
    };
    let emails = attr(map, "emails").and_then(Value::as_array);
    let chosen = emails.and_then(|emails| {
        emails
            .iter()
            .find(|email| email.get("primary") == Some(&Value::Bool(true)))
            .or_else(|| emails.first())
            .and_then(|email| email.get("value"))
            .and_then(Value::as_str)
    });
    let email = chosen
        .or_else(|| user_name.contains('@').then_some(user_name.as_str()))
        .map(|email| email.trim().to_lowercase())
        .filter(|email| pow_core::users::validation::validate_email(email).is_ok())
        .ok_or_else(|| Problem::invalid("the user needs an email address (emails or userName)"))?;
    let name = attr(map, "displayName")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .or_else(|| {
            let name = attr(map, "name")?;
            let formatted = name.get("formatted").and_then(Value::as_str);
            let parts = [name.get("givenName"), name.get("familyName")]
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(" ");
            formatted
                .map(str::to_owned)
                .or_else(|| (!parts.is_empty()).then_some(parts))
        });
    Ok(UserFacts {
        user_name,
        external_id,
        active,
        email,
        name,
    })
}

/// Whether `email` is at one of the organization's verified domains.
async fn at_verified_domain(config: &PowConfig, org: &str, email: &str) -> Result<bool, PowError> {
    let Some((_, domain)) = email.rsplit_once('@') else {
        return Ok(false);
    };
    let verified = pow_ext_organizations::domains::verified_domains(config, org).await?;
    Ok(verified.iter().any(|have| have == domain))
}

/// `POST /Users`: provisions a user: the account with its address (linked when it exists
/// and its address is proven, made when none has it), and a membership with the setup's
/// default role unless it arrives inactive.
///
/// # Errors
/// The database's or the store's.
pub async fn create_user(
    caller: &Caller<'_>,
    body: Value,
) -> Result<Result<ScimUser, Problem>, PowError> {
    let map = match writable(body) {
        Ok(map) => map,
        Err(problem) => return Ok(Err(problem)),
    };
    let facts = match user_facts(&map) {
        Ok(facts) => facts,
        Err(problem) => return Ok(Err(problem)),
    };
    let config = caller.config;
    if !at_verified_domain(config, caller.org(), &facts.email).await? {
        return Ok(Err(Problem::invalid(
            "the user's address is not at one of the organization's verified domains",
        )));
    }
    let store = caller.store()?;
    if store.users(caller.org()).await?.len() >= caller.scim.max_resources {
        return Ok(Err(Problem::new(
            409,
            None,
            "the organization has as many provisioned users as the setup allows",
        )));
    }
    let existing = config
        .users()?
        .get_by("email", UserValue::Text(facts.email.clone()))
        .await?;
    let (user, managed) = match existing {
        Some(user) => {
            let proven = config
                .extensions()
                .address_proof()
                .is_none_or(|proof| proof.is_proven(&user));
            if !proven {
                return Ok(Err(Problem::taken(
                    "an account has this address and never proved it: it is not linked",
                )));
            }
            (user, false)
        }
        None => {
            let mut params = Params::new();
            params.insert("email".to_owned(), facts.email.clone());
            if let Some(name) = &facts.name {
                params.insert("name".to_owned(), name.clone());
            }
            match pow_core::flows::provision_user(config, params, true).await? {
                Ok(user) => (user, true),
                Err(_) => return Ok(Err(Problem::taken("the account could not be made"))),
            }
        }
    };
    let scim_user = ScimUser {
        id: pow_core::token::generate_uuid(),
        organization_id: caller.org().to_owned(),
        user_id: user.id,
        user_name: facts.user_name,
        external_id: facts.external_id,
        active: facts.active,
        managed,
        resource: Value::Object(map),
        version: 1,
        created_at: chrono::Utc::now(),
        updated_at: chrono::Utc::now(),
    };
    if let Err(Conflict::Taken | Conflict::Changed) = store.insert_user(&scim_user).await? {
        if managed {
            config.users()?.delete(&user).await?;
        }
        return Ok(Err(Problem::taken(
            "the organization has a user with this userName or account",
        )));
    }
    if scim_user.active {
        if let Err(problem) = activate(caller, &scim_user, &user).await? {
            // Nothing half-made stays: the record, and an account made for it.
            store.delete_user(caller.org(), &scim_user.id).await?;
            if managed {
                config.users()?.delete(&user).await?;
            }
            return Ok(Err(problem));
        }
    }
    audit::record(
        config,
        caller
            .event(events::USER_PROVISIONED)
            .user(user.id)
            .detail("scim_id", scim_user.id.clone()),
    );
    let stored = store.user(caller.org(), &scim_user.id).await?;
    Ok(stored.ok_or_else(Problem::not_found))
}

/// The account's membership (with the setup's default role), and the account enabled
/// again when the provisioning made it and a deactivation disabled it.
async fn activate(
    caller: &Caller<'_>,
    scim_user: &ScimUser,
    user: &User,
) -> Result<Result<(), Problem>, PowError> {
    let config = caller.config;
    if scim_user.managed && user.is_disabled() {
        pow_core::admin::enable_user(config, user).await?;
    }
    let declared = pow_ext_organizations::Organizations::of(config)
        .is_some_and(|settings| settings.role_rank(&caller.scim.default_role).is_some());
    if !declared {
        tracing::error!(role = %caller.scim.default_role, "Scim::default_role is not a role of the organizations");
        return Ok(Err(Problem::new(
            500,
            None,
            "the setup's default role is not a role",
        )));
    }
    let joined = orgs::provision_member(
        config,
        caller.org(),
        user,
        &caller.scim.default_role,
        crate::NAME,
    )
    .await?;
    if joined.is_none() {
        return Ok(Err(Problem::new(
            409,
            None,
            "the organization is full or closed",
        )));
    }
    Ok(Ok(()))
}

/// Ends `scim_user`'s membership (never the last owner's) and every credential of its
/// account: sessions, remember-me families, API tokens and keys, provider grants, on the
/// next request of every node; an account the provisioning made is disabled too, where
/// the setup lets accounts be disabled.
async fn deactivate(
    caller: &Caller<'_>,
    scim_user: &ScimUser,
) -> Result<Result<(), Problem>, PowError> {
    let config = caller.config;
    match orgs::deprovision_member(config, caller.org(), scim_user.user_id, crate::NAME).await? {
        Ok(()) | Err(Refused::NotFound) => {}
        Err(Refused::LastOwner) => {
            audit::record(
                config,
                caller
                    .event(events::LAST_OWNER_KEPT)
                    .user(scim_user.user_id)
                    .detail("scim_id", scim_user.id.clone()),
            );
            return Ok(Err(Problem::last_owner()));
        }
        Err(_) => {
            return Ok(Err(Problem::new(
                409,
                None,
                "the membership could not be ended",
            )));
        }
    }
    let Some(user) = pow_core::flows::stored_user(config, scim_user.user_id).await? else {
        return Ok(Ok(()));
    };
    let disabling = config
        .user_fields()
        .iter()
        .any(|field| field.name == pow_core::users::DISABLED_AT_FIELD);
    if scim_user.managed && disabling {
        pow_core::admin::disable_user(config, &user).await?;
    }
    pow_core::session::deprovision(config, &user).await?;
    Ok(Ok(()))
}

/// Writes `next` (a PUT's body, or a PATCH's result) over `current`: the userName, the
/// attributes, and `active`'s change (a deactivation or a reactivation).
async fn write_user(
    caller: &Caller<'_>,
    current: ScimUser,
    next: Value,
) -> Result<Result<ScimUser, Problem>, PowError> {
    let map = match writable(next) {
        Ok(map) => map,
        Err(problem) => return Ok(Err(problem)),
    };
    let facts = match user_facts(&map) {
        Ok(facts) => facts,
        Err(problem) => return Ok(Err(problem)),
    };
    let store = caller.store()?;
    let previous = current.clone();
    let updated = ScimUser {
        user_name: facts.user_name,
        external_id: facts.external_id,
        active: facts.active,
        resource: Value::Object(map),
        ..current
    };
    // The record first (its version and uniqueness checked), then what follows from it.
    match store.update_user(&updated).await? {
        Ok(()) => {}
        Err(Conflict::Taken) => {
            return Ok(Err(Problem::taken(
                "the organization has a user with this userName",
            )))
        }
        Err(Conflict::Changed) => return Ok(Err(Problem::changed())),
    }
    if updated.active != previous.active {
        let outcome = if updated.active {
            match pow_core::flows::stored_user(caller.config, updated.user_id).await? {
                Some(user) => activate(caller, &updated, &user).await?,
                None => Err(Problem::not_found()),
            }
        } else {
            deactivate(caller, &updated).await?
        };
        if let Err(problem) = outcome {
            // Refused (the last owner, a full organization): the record goes back.
            let restored = ScimUser {
                version: previous.version + 1,
                ..previous
            };
            let _ = store.update_user(&restored).await?;
            return Ok(Err(problem));
        }
        if updated.active {
            // Back in: the roles and teams of the groups it is still in.
            apply_roles(caller, std::slice::from_ref(&updated.id), false).await?;
            apply_teams(caller, std::slice::from_ref(&updated.id)).await?;
        }
        let name = if updated.active {
            events::USER_REACTIVATED
        } else {
            events::USER_DEACTIVATED
        };
        audit::record(
            caller.config,
            caller
                .event(name)
                .user(updated.user_id)
                .detail("scim_id", updated.id.clone()),
        );
    }
    audit::record(
        caller.config,
        caller
            .event(events::USER_UPDATED)
            .user(updated.user_id)
            .detail("scim_id", updated.id.clone()),
    );
    let stored = store.user(caller.org(), &updated.id).await?;
    Ok(stored.ok_or_else(Problem::not_found))
}

/// The organization's user `id`, or `404`; with `if_match`, `412` unless it is that
/// version.
async fn current_user(
    caller: &Caller<'_>,
    id: &str,
    if_match: Option<&str>,
) -> Result<Result<ScimUser, Problem>, PowError> {
    let Some(user) = caller.store()?.user(caller.org(), id).await? else {
        return Ok(Err(Problem::not_found()));
    };
    if !version_matches(if_match, user.version) {
        return Ok(Err(Problem::changed()));
    }
    Ok(Ok(user))
}

/// Whether an `If-Match` header accepts `version` (absent or `*`: any).
pub fn version_matches(if_match: Option<&str>, version: i64) -> bool {
    match if_match.map(str::trim) {
        None | Some("*") => true,
        Some(tags) => tags.split(',').any(|tag| {
            tag.trim() == etag(version) || tag.trim() == etag(version).trim_start_matches("W/")
        }),
    }
}

/// The ETag of `version`.
pub fn etag(version: i64) -> String {
    format!("W/\"{version}\"")
}

/// `PUT /Users/{id}`.
///
/// # Errors
/// The database's or the store's.
pub async fn replace_user(
    caller: &Caller<'_>,
    id: &str,
    body: Value,
    if_match: Option<&str>,
) -> Result<Result<ScimUser, Problem>, PowError> {
    let current = match current_user(caller, id, if_match).await? {
        Ok(current) => current,
        Err(problem) => return Ok(Err(problem)),
    };
    write_user(caller, current, body).await
}

/// `PATCH /Users/{id}`: the operations applied to the resource as stored, then written as
/// a replacement.
///
/// # Errors
/// The database's or the store's.
pub async fn patch_user(
    caller: &Caller<'_>,
    id: &str,
    body: &Value,
    if_match: Option<&str>,
) -> Result<Result<ScimUser, Problem>, PowError> {
    let operations = match crate::patch::parse_operations(body) {
        Ok(operations) => operations,
        Err(err) => {
            return Ok(Err(Problem::new(
                400,
                Some(err.scim_type()),
                err.to_string(),
            )))
        }
    };
    let current = match current_user(caller, id, if_match).await? {
        Ok(current) => current,
        Err(problem) => return Ok(Err(problem)),
    };
    let mut resource = user_document(&current);
    if let Err(err) = crate::patch::apply(&mut resource, &operations) {
        return Ok(Err(Problem::new(
            400,
            Some(err.scim_type()),
            err.to_string(),
        )));
    }
    write_user(caller, current, resource).await
}

/// `DELETE /Users/{id}`: deprovisions it (never the last owner) and forgets it, and takes
/// it out of the organization's groups.
///
/// # Errors
/// The database's or the store's.
pub async fn delete_user(
    caller: &Caller<'_>,
    id: &str,
    if_match: Option<&str>,
) -> Result<Result<(), Problem>, PowError> {
    let current = match current_user(caller, id, if_match).await? {
        Ok(current) => current,
        Err(problem) => return Ok(Err(problem)),
    };
    if current.active {
        if let Err(problem) = deactivate(caller, &current).await? {
            return Ok(Err(problem));
        }
    }
    let store = caller.store()?;
    store.delete_user(caller.org(), &current.id).await?;
    for mut group in store.groups(caller.org()).await? {
        if group.member_ids().contains(&current.id) {
            if let Some(members) = group
                .resource
                .get_mut("members")
                .and_then(Value::as_array_mut)
            {
                members.retain(|member| {
                    member.get("value").and_then(Value::as_str) != Some(&current.id)
                });
            }
            // A concurrent change of the group wins: the member is gone either way on read.
            let _ = store.update_group(&group).await?;
        }
    }
    audit::record(
        caller.config,
        caller
            .event(events::USER_DELETED)
            .user(current.user_id)
            .detail("scim_id", current.id.clone()),
    );
    Ok(Ok(()))
}

/// The user's resource as stored, with the server's columns (`userName`, `externalId`,
/// `active`) over it: what a PATCH starts from, before `id` and `meta`.
fn user_document(user: &ScimUser) -> Value {
    let mut map = match &user.resource {
        Value::Object(map) => map.clone(),
        _ => Map::new(),
    };
    // `active` as written: a provider that never sent it (or removed it) reads none, which
    // means active; a deactivated user always reads `false`.
    let written_active = map.keys().any(|key| key.eq_ignore_ascii_case("active"));
    map.retain(|key, _| {
        !matches!(
            key.to_ascii_lowercase().as_str(),
            "username" | "externalid" | "active"
        )
    });
    map.insert("userName".to_owned(), json!(user.user_name));
    if let Some(external) = &user.external_id {
        map.insert("externalId".to_owned(), json!(external));
    }
    if written_active || !user.active {
        map.insert("active".to_owned(), json!(user.active));
    }
    Value::Object(map)
}

/// The user as SCIM shows it, its `meta.location` under `base` (the SCIM root URL).
pub fn user_resource(user: &ScimUser, base: &str) -> Value {
    let mut document = user_document(user);
    let enterprise = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
    let mut schemas = vec![json!("urn:ietf:params:scim:schemas:core:2.0:User")];
    if document.get(enterprise).is_some() {
        schemas.push(json!(enterprise));
    }
    if let Value::Object(map) = &mut document {
        map.insert("schemas".to_owned(), Value::Array(schemas));
        map.insert("id".to_owned(), json!(user.id));
        map.insert(
            "meta".to_owned(),
            json!({
                "resourceType": "User",
                "created": user.created_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                "lastModified": user.updated_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                "location": format!("{base}/Users/{}", user.id),
                "version": etag(user.version),
            }),
        );
    }
    document
}

// ---------------------------------------------------------------------------------------
// Groups.

/// The facts of a group resource: its name, external id and members (SCIM user ids of the
/// organization, checked).
async fn group_facts(
    caller: &Caller<'_>,
    map: &mut Map<String, Value>,
) -> Result<Result<(String, Option<String>), Problem>, PowError> {
    let Some(display_name) = attr(map, "displayName")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|name| !name.is_empty() && name.len() <= 256)
        .map(str::to_owned)
    else {
        return Ok(Err(Problem::invalid(
            "displayName is required (at most 256 characters)",
        )));
    };
    let external_id = attr(map, "externalId")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let members: Vec<String> = attr(map, "members")
        .and_then(Value::as_array)
        .map(|members| {
            members
                .iter()
                .filter_map(|member| member.get("value").and_then(Value::as_str))
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    if members.len() > caller.scim.max_resources {
        return Ok(Err(Problem::new(400, Some("tooMany"), "too many members")));
    }
    let known: std::collections::BTreeSet<String> = caller
        .store()?
        .users(caller.org())
        .await?
        .into_iter()
        .map(|user| user.id)
        .collect();
    if let Some(unknown) = members.iter().find(|member| !known.contains(*member)) {
        return Ok(Err(Problem::invalid(format!(
            "member {unknown} is not a user of this organization"
        ))));
    }
    // One entry per member, as values only (what the server keeps).
    let mut seen = std::collections::BTreeSet::new();
    let kept: Vec<Value> = members
        .into_iter()
        .filter(|member| seen.insert(member.clone()))
        .map(|member| json!({ "value": member }))
        .collect();
    map.retain(|key, _| !key.eq_ignore_ascii_case("members"));
    map.insert("members".to_owned(), Value::Array(kept));
    Ok(Ok((display_name, external_id)))
}

/// `POST /Groups`.
///
/// # Errors
/// The database's or the store's.
pub async fn create_group(
    caller: &Caller<'_>,
    body: Value,
) -> Result<Result<ScimGroup, Problem>, PowError> {
    let mut map = match writable(body) {
        Ok(map) => map,
        Err(problem) => return Ok(Err(problem)),
    };
    let (display_name, external_id) = match group_facts(caller, &mut map).await? {
        Ok(facts) => facts,
        Err(problem) => return Ok(Err(problem)),
    };
    let group = ScimGroup {
        id: pow_core::token::generate_uuid(),
        organization_id: caller.org().to_owned(),
        display_name,
        external_id,
        role: None,
        team_id: None,
        resource: Value::Object(map),
        version: 1,
        created_at: chrono::Utc::now(),
        updated_at: chrono::Utc::now(),
    };
    let store = caller.store()?;
    if store.groups(caller.org()).await?.len() >= caller.scim.max_resources {
        return Ok(Err(Problem::new(
            409,
            None,
            "the organization has as many groups as the setup allows",
        )));
    }
    if store.insert_group(&group).await?.is_err() {
        return Ok(Err(Problem::taken(
            "the organization has a group with this displayName",
        )));
    }
    audit::record(
        caller.config,
        caller
            .event(events::GROUP_WRITTEN)
            .detail("group", group.id.clone()),
    );
    let stored = store.group(caller.org(), &group.id).await?;
    Ok(stored.ok_or_else(Problem::not_found))
}

async fn current_group(
    caller: &Caller<'_>,
    id: &str,
    if_match: Option<&str>,
) -> Result<Result<ScimGroup, Problem>, PowError> {
    let Some(group) = caller.store()?.group(caller.org(), id).await? else {
        return Ok(Err(Problem::not_found()));
    };
    if !version_matches(if_match, group.version) {
        return Ok(Err(Problem::changed()));
    }
    Ok(Ok(group))
}

async fn write_group(
    caller: &Caller<'_>,
    current: ScimGroup,
    next: Value,
) -> Result<Result<ScimGroup, Problem>, PowError> {
    let mut map = match writable(next) {
        Ok(map) => map,
        Err(problem) => return Ok(Err(problem)),
    };
    let (display_name, external_id) = match group_facts(caller, &mut map).await? {
        Ok(facts) => facts,
        Err(problem) => return Ok(Err(problem)),
    };
    let before = current.member_ids();
    let updated = ScimGroup {
        display_name,
        external_id,
        resource: Value::Object(map),
        ..current
    };
    let store = caller.store()?;
    match store.update_group(&updated).await? {
        Ok(()) => {}
        Err(Conflict::Taken) => {
            return Ok(Err(Problem::taken(
                "the organization has a group with this displayName",
            )))
        }
        Err(Conflict::Changed) => return Ok(Err(Problem::changed())),
    }
    audit::record(
        caller.config,
        caller
            .event(events::GROUP_WRITTEN)
            .detail("group", updated.id.clone()),
    );
    let mut touched = before;
    touched.extend(updated.member_ids());
    apply_roles(caller, &touched, updated.role.is_some()).await?;
    apply_teams(caller, &touched).await?;
    let stored = store.group(caller.org(), &updated.id).await?;
    Ok(stored.ok_or_else(Problem::not_found))
}

/// `PUT /Groups/{id}`.
///
/// # Errors
/// The database's or the store's.
pub async fn replace_group(
    caller: &Caller<'_>,
    id: &str,
    body: Value,
    if_match: Option<&str>,
) -> Result<Result<ScimGroup, Problem>, PowError> {
    let current = match current_group(caller, id, if_match).await? {
        Ok(current) => current,
        Err(problem) => return Ok(Err(problem)),
    };
    write_group(caller, current, body).await
}

/// `PATCH /Groups/{id}` (members added and removed, a new name).
///
/// # Errors
/// The database's or the store's.
pub async fn patch_group(
    caller: &Caller<'_>,
    id: &str,
    body: &Value,
    if_match: Option<&str>,
) -> Result<Result<ScimGroup, Problem>, PowError> {
    let operations = match crate::patch::parse_operations(body) {
        Ok(operations) => operations,
        Err(err) => {
            return Ok(Err(Problem::new(
                400,
                Some(err.scim_type()),
                err.to_string(),
            )))
        }
    };
    let current = match current_group(caller, id, if_match).await? {
        Ok(current) => current,
        Err(problem) => return Ok(Err(problem)),
    };
    let mut resource = group_document(&current);
    if let Err(err) = crate::patch::apply(&mut resource, &operations) {
        return Ok(Err(Problem::new(
            400,
            Some(err.scim_type()),
            err.to_string(),
        )));
    }
    write_group(caller, current, resource).await
}

/// `DELETE /Groups/{id}`: its members lose the role it gave.
///
/// # Errors
/// The database's or the store's.
pub async fn delete_group(
    caller: &Caller<'_>,
    id: &str,
    if_match: Option<&str>,
) -> Result<Result<(), Problem>, PowError> {
    let current = match current_group(caller, id, if_match).await? {
        Ok(current) => current,
        Err(problem) => return Ok(Err(problem)),
    };
    caller
        .store()?
        .delete_group(caller.org(), &current.id)
        .await?;
    audit::record(
        caller.config,
        caller
            .event(events::GROUP_DELETED)
            .detail("group", current.id.clone()),
    );
    apply_roles(caller, &current.member_ids(), current.role.is_some()).await?;
    if let Some(team) = &current.team_id {
        // The team it filled: its members leave it unless another group keeps them there.
        apply_teams_for(caller, &current.member_ids(), std::slice::from_ref(team)).await?;
    }
    Ok(Ok(()))
}

fn group_document(group: &ScimGroup) -> Value {
    let mut map = match &group.resource {
        Value::Object(map) => map.clone(),
        _ => Map::new(),
    };
    map.retain(|key, _| {
        !matches!(
            key.to_ascii_lowercase().as_str(),
            "displayname" | "externalid"
        )
    });
    map.insert("displayName".to_owned(), json!(group.display_name));
    if let Some(external) = &group.external_id {
        map.insert("externalId".to_owned(), json!(external));
    }
    Value::Object(map)
}

/// The group as SCIM shows it.
pub fn group_resource(group: &ScimGroup, base: &str) -> Value {
    let mut document = group_document(group);
    if let Value::Object(map) = &mut document {
        map.insert(
            "schemas".to_owned(),
            json!(["urn:ietf:params:scim:schemas:core:2.0:Group"]),
        );
        map.insert("id".to_owned(), json!(group.id));
        if let Some(Value::Array(members)) = map.get_mut("members") {
            for member in members {
                if let Some(id) = member
                    .get("value")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
                {
                    member["$ref"] = json!(format!("{base}/Users/{id}"));
                    member["type"] = json!("User");
                }
            }
        }
        map.insert(
            "meta".to_owned(),
            json!({
                "resourceType": "Group",
                "created": group.created_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                "lastModified": group.updated_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                "location": format!("{base}/Groups/{}", group.id),
                "version": etag(group.version),
            }),
        );
    }
    document
}

/// Gives each of `scim_ids`' accounts the role its groups map to: the highest-ranked role
/// of the mapped groups it is in, the setup's default role when it is in none (only where
/// the organization maps any group, or `mapped`: the change was to a mapped group, whose
/// members lose its role). Owners stay owners (people manage ownership), and inactive
/// users have no membership to change.
async fn apply_roles(
    caller: &Caller<'_>,
    scim_ids: &[String],
    mapped: bool,
) -> Result<(), PowError> {
    let config = caller.config;
    let store = caller.store()?;
    let groups = store.groups(caller.org()).await?;
    if !mapped && groups.iter().all(|group| group.role.is_none()) {
        return Ok(());
    }
    let Some(settings) = pow_ext_organizations::Organizations::of(config) else {
        return Ok(());
    };
    let mut seen = std::collections::BTreeSet::new();
    for id in scim_ids {
        if !seen.insert(id.clone()) {
            continue;
        }
        let Some(user) = store.user(caller.org(), id).await? else {
            continue;
        };
        if !user.active {
            continue;
        }
        let target = groups
            .iter()
            .filter(|group| group.member_ids().contains(id))
            .filter_map(|group| group.role.as_deref())
            .max_by_key(|role| settings.role_rank(role).unwrap_or(0))
            .unwrap_or(&caller.scim.default_role)
            .to_owned();
        let Some(membership) = orgs::membership_in(config, caller.org(), user.user_id).await?
        else {
            continue;
        };
        if membership.role == target || membership.role == pow_ext_organizations::OWNER {
            continue;
        }
        // A refusal (a role the setup dropped) leaves the membership as it is.
        let _ =
            orgs::provision_role(config, caller.org(), user.user_id, &target, crate::NAME).await?;
    }
    Ok(())
}

/// Puts each of `scim_ids`' accounts in the teams the organization's groups map to (as a
/// team member) where one of its groups does, and takes it out of a mapped team where none
/// does any more. Teams no group maps to are the people's to manage.
async fn apply_teams(caller: &Caller<'_>, scim_ids: &[String]) -> Result<(), PowError> {
    let groups = caller.store()?.groups(caller.org()).await?;
    let mut teams: Vec<String> = groups
        .iter()
        .filter_map(|group| group.team_id.clone())
        .collect();
    teams.sort();
    teams.dedup();
    apply_teams_for(caller, scim_ids, &teams).await
}

/// [`apply_teams`] for `teams` only.
async fn apply_teams_for(
    caller: &Caller<'_>,
    scim_ids: &[String],
    teams: &[String],
) -> Result<(), PowError> {
    if teams.is_empty() {
        return Ok(());
    }
    let store = caller.store()?;
    let groups = store.groups(caller.org()).await?;
    let mut seen = std::collections::BTreeSet::new();
    for id in scim_ids {
        if !seen.insert(id.clone()) {
            continue;
        }
        let Some(user) = store.user(caller.org(), id).await? else {
            continue;
        };
        for team in teams {
            let wanted = user.active
                && groups.iter().any(|group| {
                    group.team_id.as_deref() == Some(team.as_str())
                        && group.member_ids().contains(id)
                });
            let role = wanted.then_some(pow_ext_organizations::TEAM_MEMBER);
            // A refusal (not a member any more, a team gone) leaves it as it is.
            let _ = pow_ext_organizations::teams::provision(
                caller.config,
                caller.org(),
                team,
                user.user_id,
                role,
                crate::NAME,
            )
            .await?;
        }
    }
    Ok(())
}

/// Maps group `id` of `org_id` onto team `team_id` (`None`: no team) for its members'
/// next request. `false` when the organization has no such group.
///
/// # Errors
/// The database's or the store's.
pub(crate) async fn map_group_team(
    config: &PowConfig,
    scim: &Scim,
    org_id: &str,
    id: &str,
    team_id: Option<String>,
) -> Result<bool, PowError> {
    let store = Store::new(config, scim.max_resources)?;
    let Some(group) = store.group(org_id, id).await? else {
        return Ok(false);
    };
    store.set_group_team(org_id, id, team_id.clone()).await?;
    let token = admin_token(org_id);
    let caller = Caller {
        config,
        scim,
        token: &token,
    };
    let members = group.member_ids();
    let mut teams: Vec<String> = group.team_id.into_iter().chain(team_id).collect();
    teams.dedup();
    apply_teams_for(&caller, &members, &teams).await?;
    Ok(true)
}

/// The caller of an admin's change (not a provider's): the organization, named `admin`.
fn admin_token(org_id: &str) -> TokenInfo {
    TokenInfo {
        id: String::new(),
        organization_id: org_id.to_owned(),
        name: "admin".to_owned(),
        created_at: chrono::Utc::now(),
        last_used_at: None,
        revoked_at: None,
    }
}

/// Maps group `id` of `org_id` onto `role` (`None`: no role) for its members' next
/// request, as an admin of the organization sets it (a role below owner). `false` when
/// the organization has no such group.
///
/// # Errors
/// The database's or the store's.
pub(crate) async fn map_group(
    config: &PowConfig,
    scim: &Scim,
    org_id: &str,
    id: &str,
    role: Option<String>,
) -> Result<bool, PowError> {
    let store = Store::new(config, scim.max_resources)?;
    let Some(group) = store.group(org_id, id).await? else {
        return Ok(false);
    };
    store.set_group_role(org_id, id, role).await?;
    let token = admin_token(org_id);
    let caller = Caller {
        config,
        scim,
        token: &token,
    };
    apply_roles(&caller, &group.member_ids(), true).await?;
    Ok(true)
}
