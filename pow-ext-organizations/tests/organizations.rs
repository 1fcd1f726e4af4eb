//! Organizations over HTTP, on actix-web and on axum from one source, on SQLite and
//! PostgreSQL: creating, listing, renaming and closing; roles and their ranks; the last
//! owner under concurrent demotions and removals; invitations bound to the proven address
//! (a wrong signed-in user, a forged or reused link, sign-up through the link, re-send,
//! revoke, the same answer for every address); the caps; the active organization and a
//! removed member's live session; erasure passing ownership on; the pages and JSON alike.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use pow_actix::password::Pbkdf2Hasher;
use pow_actix::store::MemoryStore;
use pow_actix::test_client::{Client, Response};
use pow_actix::users::diesel::DieselUsersContext;
use pow_actix::{PowConfig, User};
use pow_core::api::ApiOptions;
use pow_ext_organizations::Organizations;
use serde_json::{json, Value};

const OWNER: &str = "ada@example.com";
const PASSWORD: &str = "correct horse battery";

fn sqlite() -> DieselUsersContext {
    pow_testkit::sqlite("organizations")
}

/// A PostgreSQL users context in a schema of its own, or `None` (with a notice) when
/// `POW_TEST_DATABASE_URL` is unset outside CI.
fn postgres() -> Option<DieselUsersContext> {
    pow_testkit::postgres("organizations")
}

struct Harness {
    config: PowConfig,
    /// The JSON API and the app's `/invoices` route (the active organization's).
    api: SocketAddr,
    /// The pages.
    pages: SocketAddr,
    owner: User,
    mailer: pow_actix::mailer::MemoryMailer,
}

fn start(users: DieselUsersContext) -> Harness {
    start_with(users, Organizations::new())
}

fn start_with(users: DieselUsersContext, organizations: Organizations) -> Harness {
    start_full(
        users,
        organizations,
        pow_ext_email_confirmation::EmailConfirmation::new(),
    )
}

fn start_full(
    users: DieselUsersContext,
    organizations: Organizations,
    confirmation: pow_ext_email_confirmation::EmailConfirmation,
) -> Harness {
    let mailer = pow_actix::mailer::MemoryMailer::new();
    let config = PowConfig::builder("k".repeat(64))
        .users(users.clone())
        .mailer(Arc::new(mailer.clone()))
        .hasher(Pbkdf2Hasher::new(1))
        .base_url("http://localhost")
        .store(Arc::new(MemoryStore::new()))
        .extension(confirmation)
        .extension(organizations)
        .build()
        .unwrap();
    users.migrate(&config).unwrap();
    let owner = user(&config, OWNER);
    let api = serve(config.clone());
    let pages = pow_testkit::serve(config.clone());
    Harness {
        config,
        api,
        pages,
        owner,
        mailer,
    }
}

/// A user with a proven address.
fn user(config: &PowConfig, email: &str) -> User {
    let user = unproven(config, email);
    prove(config, &user)
}

fn unproven(config: &PowConfig, email: &str) -> User {
    pow_actix::testing::create_user(config, email, PASSWORD).unwrap()
}

fn prove(config: &PowConfig, user: &User) -> User {
    let proof = Arc::clone(config.extensions().address_proof().unwrap());
    let users = config.users_context().unwrap();
    proof.mark_proven(users.as_ref(), config, user).unwrap()
}

/// The JSON API, and `GET /invoices` for a member of the active organization who is an
/// admin or above, on the test's framework.
fn serve(config: PowConfig) -> SocketAddr {
    match pow_testkit::framework() {
        pow_testkit::Framework::Actix => pow_actix::test_client::serve(move || {
            use actix_web::{web, App, HttpResponse};
            use pow_ext_organizations::actix::Member;
            App::new()
                .app_data(web::Data::new(config.clone()))
                .configure(pow_actix::api::configure(config.clone(), ApiOptions::new()))
                .service(
                    web::scope("/app")
                        .route(
                            "/invoices",
                            web::get().to(|member: Member| async move {
                                member.at_least("admin")?;
                                Ok::<_, pow_actix::api::ApiError>(HttpResponse::Ok().body(format!(
                                    "invoices of {}",
                                    member.membership.organization.slug
                                )))
                            }),
                        )
                        .wrap(pow_actix::api::ApiAuthMiddleware::new(config.clone())),
                )
        }),
        pow_testkit::Framework::Axum => {
            use axum::response::IntoResponse;
            use axum::routing::get;
            use pow_ext_organizations::axum::Member;
            let own = axum::Router::new()
                .route(
                    "/app/invoices",
                    get(|member: Member| async move {
                        if let Err(refused) = member.at_least("admin") {
                            return refused;
                        }
                        format!("invoices of {}", member.membership.organization.slug)
                            .into_response()
                    }),
                )
                .layer(pow_axum::ApiLayer::new(config.clone()));
            pow_testkit::serve_axum(pow_axum::api::router(&config, ApiOptions::new()).merge(own))
        }
    }
}

fn json_client(addr: SocketAddr, token: Option<&str>) -> Client {
    let mut c = Client::new(addr);
    c.headers
        .push(("Content-Type".into(), "application/json".into()));
    if let Some(token) = token {
        c.headers
            .push(("Authorization".into(), format!("Bearer {token}")));
    }
    c
}

fn json_of(res: &Response) -> Value {
    serde_json::from_str(&res.body)
        .unwrap_or_else(|_| panic!("JSON ({}): {}", res.status, res.body))
}

fn code(res: &Response) -> String {
    json_of(res)["errors"][0]["code"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// Asserts `res` refuses with `status` and the error `code`.
fn assert_refused(res: &Response, status: u16, expected: &str) {
    assert_eq!(
        (res.status, code(res).as_str()),
        (status, expected),
        "{}",
        res.body
    );
}

/// A signed-in API client of `email`.
struct Api {
    addr: SocketAddr,
    token: String,
}

impl Api {
    fn sign_in(addr: SocketAddr, email: &str) -> Self {
        let mut c = json_client(addr, None);
        let res = c.request(
            "POST",
            "/api/v1/session",
            Some(json!({ "user": { "email": email, "password": PASSWORD } }).to_string()),
        );
        assert_eq!(res.status, 200, "{}", res.body);
        let token = json_of(&res)["data"]["access_token"]
            .as_str()
            .unwrap()
            .to_owned();
        Self { addr, token }
    }

    fn call(&self, method: &str, path: &str, body: Value) -> Response {
        let mut c = json_client(self.addr, Some(&self.token));
        let body = (method != "GET").then(|| body.to_string());
        c.request(method, &format!("/api/v1{path}"), body)
    }

    fn get(&self, path: &str) -> Response {
        self.call("GET", path, Value::Null)
    }

    fn invoices(&self) -> Response {
        json_client(self.addr, Some(&self.token)).get("/app/invoices")
    }
}

fn create(api: &Api, slug: &str) -> Value {
    let res = api.call(
        "POST",
        "/organizations",
        json!({ "name": slug.to_uppercase(), "slug": slug }),
    );
    assert_eq!(res.status, 201, "{}", res.body);
    json_of(&res)["data"].clone()
}

fn invite(api: &Api, slug: &str, email: &str, role: &str) -> Response {
    api.call(
        "POST",
        &format!("/organizations/{slug}/invitations"),
        json!({ "email": email, "role": role }),
    )
}

/// The invitation links mailed to `email`, oldest first.
fn links(h: &Harness, email: &str) -> Vec<String> {
    h.mailer
        .deliveries()
        .into_iter()
        .filter(|mail| mail.to == email)
        .filter_map(|mail| {
            let at = mail.text.find("/organization-invitations/")?;
            let rest = &mail.text[at + "/organization-invitations/".len()..];
            let end = rest
                .find(|c: char| c.is_whitespace() || c == '"' || c == '<' || c == ')')
                .unwrap_or(rest.len());
            Some(rest[..end].to_owned())
        })
        .collect()
}

fn accept(api: &Api, token: &str) -> Response {
    api.call(
        "POST",
        &format!("/organization-invitations/{token}"),
        json!({}),
    )
}

/// `email` (a new, proven user) joins `slug` as `role`, invited by `by`; signed in.
fn join(h: &Harness, by: &Api, slug: &str, email: &str, role: &str) -> (User, Api) {
    let user = user(&h.config, email);
    assert_eq!(invite(by, slug, email, role).status, 202);
    let link = links(h, email).pop().expect("an invitation mail");
    let api = Api::sign_in(h.api, email);
    let res = accept(&api, &link);
    assert_eq!(res.status, 200, "{}", res.body);
    (user, api)
}

fn roles(api: &Api, slug: &str) -> Vec<(i64, String)> {
    let res = api.get(&format!("/organizations/{slug}/members"));
    assert_eq!(res.status, 200, "{}", res.body);
    json_of(&res)["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["user_id"].as_i64().unwrap(),
                m["role"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn owners(api: &Api, slug: &str) -> usize {
    roles(api, slug)
        .iter()
        .filter(|(_, role)| role == "owner")
        .count()
}

// -- 1. Organizations: create, list, rename, close and purge.

fn organizations_are_created_listed_renamed_and_closed(users: DieselUsersContext) {
    let h = start(users);
    let ada = Api::sign_in(h.api, OWNER);
    let acme = create(&ada, "acme");
    assert_eq!(
        (acme["slug"].as_str(), acme["name"].as_str()),
        (Some("acme"), Some("ACME"))
    );
    // A taken or malformed slug, and an empty name.
    let taken = ada.call(
        "POST",
        "/organizations",
        json!({ "name": "Other", "slug": "acme" }),
    );
    assert_refused(&taken, 422, "invalid_organization");
    assert!(
        json_of(&taken)["errors"][0]["details"]
            .to_string()
            .contains("slug")
            || taken.body.contains("slug"),
        "{}",
        taken.body
    );
    for (name, slug) in [("Bad", "Not A Slug"), ("Bad", "-x"), ("", "fine")] {
        let res = ada.call(
            "POST",
            "/organizations",
            json!({ "name": name, "slug": slug }),
        );
        assert_refused(&res, 422, "invalid_organization");
    }
    // Listed, with the owner's role, the only one active.
    create(&ada, "globex");
    let listed = json_of(&ada.get("/organizations"))["data"].clone();
    let slugs: Vec<_> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["organization"]["slug"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(slugs, ["acme", "globex"]);
    assert!(listed
        .as_array()
        .unwrap()
        .iter()
        .all(|m| m["role"] == "owner"));
    assert_eq!(
        listed
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["active"] == true)
            .count(),
        1
    );
    // Renamed.
    let res = ada.call(
        "PATCH",
        "/organizations/acme",
        json!({ "name": "Acme Corp" }),
    );
    assert_eq!(res.status, 200, "{}", res.body);
    assert_eq!(
        json_of(&ada.get("/organizations/acme"))["data"]["organization"]["name"],
        "Acme Corp"
    );
    // Closed: gone for its members at once, purged after the grace period.
    let res = ada.call("DELETE", "/organizations/acme", json!({}));
    assert_eq!(res.status, 200, "{}", res.body);
    assert_refused(&ada.get("/organizations/acme"), 404, "not_found");
    assert_eq!(
        json_of(&ada.get("/organizations"))["data"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let now = chrono::Utc::now();
    let purged = rt
        .block_on(pow_ext_organizations::flows::purge_due(&h.config, now))
        .unwrap();
    assert_eq!(purged, 0, "not before the grace period");
    let later = now + chrono::Duration::days(31);
    let purged = rt
        .block_on(pow_ext_organizations::flows::purge_due(&h.config, later))
        .unwrap();
    assert_eq!(purged, 1);
    // The slug is free again.
    create(&ada, "acme");
}

fn organizations_are_created_listed_renamed_and_closed_on_sqlite() {
    organizations_are_created_listed_renamed_and_closed(sqlite());
}

fn organizations_are_created_listed_renamed_and_closed_on_postgres() {
    if let Some(users) = postgres() {
        organizations_are_created_listed_renamed_and_closed(users);
    }
}

// -- 2. Roles and their ranks.

fn roles_follow_their_ranks(users: DieselUsersContext) {
    let h = start_with(users, Organizations::new().role("billing", 150));
    let ada = Api::sign_in(h.api, OWNER);
    create(&ada, "acme");
    let (bob, bob_api) = join(&h, &ada, "acme", "bob@example.com", "admin");
    let (carl, carl_api) = join(&h, &bob_api, "acme", "carl@example.com", "member");
    let (dora, _) = join(&h, &bob_api, "acme", "dora@example.com", "billing");
    // A member may not invite, rename or manage.
    assert_refused(
        &invite(&carl_api, "acme", "x@example.com", "member"),
        403,
        "forbidden",
    );
    assert_refused(
        &carl_api.call("PATCH", "/organizations/acme", json!({ "name": "Mine" })),
        403,
        "forbidden",
    );
    assert_refused(
        &carl_api.call(
            "DELETE",
            &format!("/organizations/acme/members/{}", dora.id),
            json!({}),
        ),
        403,
        "forbidden",
    );
    // An admin manages the ranks below theirs, into ranks below theirs.
    let res = bob_api.call(
        "PATCH",
        &format!("/organizations/acme/members/{}", carl.id),
        json!({ "role": "billing" }),
    );
    assert_eq!(res.status, 200, "{}", res.body);
    assert_refused(
        &bob_api.call(
            "PATCH",
            &format!("/organizations/acme/members/{}", carl.id),
            json!({ "role": "owner" }),
        ),
        403,
        "forbidden",
    );
    assert_refused(
        &bob_api.call(
            "PATCH",
            &format!("/organizations/acme/members/{}", carl.id),
            json!({ "role": "admin" }),
        ),
        403,
        "forbidden",
    );
    assert_refused(
        &bob_api.call(
            "DELETE",
            &format!("/organizations/acme/members/{}", h.owner.id),
            json!({}),
        ),
        403,
        "forbidden",
    );
    assert_refused(
        &invite(&bob_api, "acme", "y@example.com", "admin"),
        403,
        "forbidden",
    );
    // An unknown role, in a change or an invitation.
    assert_refused(
        &bob_api.call(
            "PATCH",
            &format!("/organizations/acme/members/{}", carl.id),
            json!({ "role": "king" }),
        ),
        422,
        "unknown_role",
    );
    assert_refused(
        &invite(&ada, "acme", "z@example.com", "king"),
        422,
        "unknown_role",
    );
    // The owner manages everyone; an admin removes a member.
    let res = ada.call(
        "PATCH",
        &format!("/organizations/acme/members/{}", bob.id),
        json!({ "role": "owner" }),
    );
    assert_eq!(res.status, 200, "{}", res.body);
    let res = bob_api.call(
        "DELETE",
        &format!("/organizations/acme/members/{}", dora.id),
        json!({}),
    );
    assert_eq!(res.status, 200, "{}", res.body);
    let mut got = roles(&ada, "acme");
    got.sort();
    let mut want = vec![
        (h.owner.id, "owner".to_owned()),
        (bob.id, "owner".to_owned()),
        (carl.id, "billing".to_owned()),
    ];
    want.sort();
    assert_eq!(got, want);
    // The app's guard: admins and above.
    assert_eq!(bob_api.invoices().status, 200);
    assert_refused(&carl_api.invoices(), 403, "forbidden");
}

fn roles_follow_their_ranks_on_sqlite() {
    roles_follow_their_ranks(sqlite());
}

fn roles_follow_their_ranks_on_postgres() {
    if let Some(users) = postgres() {
        roles_follow_their_ranks(users);
    }
}

// -- 3. The last owner.

fn the_last_owner_stays(users: DieselUsersContext) {
    let h = start(users);
    let ada = Api::sign_in(h.api, OWNER);
    create(&ada, "acme");
    assert_refused(
        &ada.call("POST", "/organizations/acme/leave", json!({})),
        409,
        "last_owner",
    );
    assert_refused(
        &ada.call(
            "PATCH",
            &format!("/organizations/acme/members/{}", h.owner.id),
            json!({ "role": "admin" }),
        ),
        409,
        "last_owner",
    );
    assert_refused(
        &ada.call(
            "DELETE",
            &format!("/organizations/acme/members/{}", h.owner.id),
            json!({}),
        ),
        409,
        "last_owner",
    );
    // With a second owner, the first may go.
    let (bob, bob_api) = join(&h, &ada, "acme", "bob@example.com", "owner");
    let res = ada.call("POST", "/organizations/acme/leave", json!({}));
    assert_eq!(res.status, 200, "{}", res.body);
    assert_eq!(roles(&bob_api, "acme"), vec![(bob.id, "owner".to_owned())]);
    assert_refused(
        &bob_api.call("POST", "/organizations/acme/leave", json!({})),
        409,
        "last_owner",
    );
}

fn the_last_owner_stays_on_sqlite() {
    the_last_owner_stays(sqlite());
}

fn the_last_owner_stays_on_postgres() {
    if let Some(users) = postgres() {
        the_last_owner_stays(users);
    }
}

/// Owners demote and remove each other, and leave, all at once: one owner is always left.
fn concurrent_demotions_and_removals_leave_one_owner(users: DieselUsersContext) {
    let h = start(users);
    let ada = Api::sign_in(h.api, OWNER);
    create(&ada, "acme");
    let mut owners_now = vec![(h.owner.clone(), ada)];
    for n in 0..4 {
        let email = format!("owner{n}@example.com");
        let (user, api) = join(&h, &owners_now[0].1, "acme", &email, "owner");
        owners_now.push((user, api));
    }
    assert_eq!(owners(&owners_now[0].1, "acme"), 5);
    let ids: Vec<i64> = owners_now.iter().map(|(user, _)| user.id).collect();
    std::thread::scope(|scope| {
        for (n, (_, api)) in owners_now.iter().enumerate() {
            let ids = ids.clone();
            scope.spawn(move || {
                for (m, target) in ids.iter().enumerate() {
                    let path = format!("/organizations/acme/members/{target}");
                    let res = match (n + m) % 3 {
                        0 => api.call("PATCH", &path, json!({ "role": "member" })),
                        1 => api.call("DELETE", &path, json!({})),
                        _ => api.call("POST", "/organizations/acme/leave", json!({})),
                    };
                    assert!(
                        matches!(res.status, 200 | 403 | 404 | 409),
                        "{}: {}",
                        res.status,
                        res.body
                    );
                }
            });
        }
    });
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let left: Vec<_> = ids
        .iter()
        .filter_map(|id| {
            let user = rt.block_on(h.config.users().unwrap().get(*id)).unwrap()?;
            let membership = rt
                .block_on(pow_ext_organizations::flows::membership(
                    &h.config, &user, "acme",
                ))
                .unwrap()?;
            Some(membership.role)
        })
        .collect();
    assert_eq!(
        left.iter().filter(|role| *role == "owner").count(),
        1,
        "{left:?}"
    );
}

fn concurrent_demotions_and_removals_leave_one_owner_on_sqlite() {
    concurrent_demotions_and_removals_leave_one_owner(sqlite());
}

fn concurrent_demotions_and_removals_leave_one_owner_on_postgres() {
    if let Some(users) = postgres() {
        concurrent_demotions_and_removals_leave_one_owner(users);
    }
}

// -- 4. Invitations.

fn an_invitation_is_accepted_only_by_its_proven_address(users: DieselUsersContext) {
    // Unconfirmed users may sign in: the invitation still asks for the proof.
    let confirmation = pow_ext_email_confirmation::EmailConfirmation::new().soft(true);
    let h = start_full(users, Organizations::new(), confirmation);
    let ada = Api::sign_in(h.api, OWNER);
    create(&ada, "acme");
    let bob = unproven(&h.config, "bob@example.com");
    user(&h.config, "eve@example.com");
    assert_eq!(
        invite(&ada, "acme", "bob@example.com", "member").status,
        202
    );
    let link = links(&h, "bob@example.com").pop().unwrap();
    // What the link invites to, for whoever holds it.
    let shown = json_client(h.api, None).get(&format!("/api/v1/organization-invitations/{link}"));
    assert_eq!(shown.status, 200, "{}", shown.body);
    let shown = json_of(&shown);
    assert_eq!(
        (
            shown["data"]["organization"]["slug"].as_str(),
            shown["data"]["role"].as_str()
        ),
        (Some("acme"), Some("member"))
    );
    // Another signed-in user is refused, and the link stays valid.
    let eve = Api::sign_in(h.api, "eve@example.com");
    assert_refused(&accept(&eve, &link), 403, "wrong_user");
    // The invited address, not proven yet, is refused too.
    let bob_api = Api::sign_in(h.api, "bob@example.com");
    assert_refused(&accept(&bob_api, &link), 403, "wrong_user");
    prove(&h.config, &bob);
    let res = accept(&bob_api, &link);
    assert_eq!(res.status, 200, "{}", res.body);
    assert_eq!(json_of(&res)["data"]["role"], "member");
    // Used up; a forged link is refused like it.
    assert_refused(&accept(&bob_api, &link), 404, "invalid_invitation");
    let forged = format!("{}x", &link[..link.len() - 1]);
    assert_refused(&accept(&bob_api, &forged), 404, "invalid_invitation");
    assert_refused(&accept(&bob_api, "not-a-link"), 404, "invalid_invitation");
    assert_refused(&eve.get("/organizations/acme"), 404, "not_found");
    assert_eq!(bob_api.get("/organizations/acme").status, 200);
}

fn an_invitation_is_accepted_only_by_its_proven_address_on_sqlite() {
    an_invitation_is_accepted_only_by_its_proven_address(sqlite());
}

fn an_invitation_is_accepted_only_by_its_proven_address_on_postgres() {
    if let Some(users) = postgres() {
        an_invitation_is_accepted_only_by_its_proven_address(users);
    }
}

fn signing_up_through_the_link_proves_the_address(users: DieselUsersContext) {
    let h = start(users);
    let ada = Api::sign_in(h.api, OWNER);
    create(&ada, "acme");
    assert_eq!(
        invite(&ada, "acme", "new@example.com", "member").status,
        202
    );
    let link = links(&h, "new@example.com").pop().unwrap();
    let mut c = json_client(h.api, None);
    let path = format!("/api/v1/organization-invitations/{link}");
    let weak = c.request(
        "POST",
        &path,
        Some(json!({ "password": "x", "password_confirmation": "x" }).to_string()),
    );
    assert_eq!(weak.status, 422, "{}", weak.body);
    let res = c.request(
        "POST",
        &path,
        Some(json!({ "password": PASSWORD, "password_confirmation": PASSWORD }).to_string()),
    );
    assert_eq!(res.status, 200, "{}", res.body);
    let token = json_of(&res)["data"]["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let newcomer = Api { addr: h.api, token };
    assert_eq!(
        json_of(&newcomer.get("/organizations/acme"))["data"]["role"],
        "member"
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let stored = rt
        .block_on(h.config.users().unwrap().get_by("email", "new@example.com"))
        .unwrap()
        .unwrap();
    assert!(h
        .config
        .extensions()
        .address_proof()
        .unwrap()
        .is_proven(&stored));
    // An address with an account signs in first.
    user(&h.config, "old@example.com");
    assert_eq!(
        invite(&ada, "acme", "old@example.com", "member").status,
        202
    );
    let link = links(&h, "old@example.com").pop().unwrap();
    let res = c.request(
        "POST",
        &format!("/api/v1/organization-invitations/{link}"),
        Some(json!({ "password": PASSWORD, "password_confirmation": PASSWORD }).to_string()),
    );
    assert_refused(&res, 409, "sign_in_first");
}

/// An app with a required user field: the invitation's sign-up form shows it and carries
/// it, its error is shown when missing, and the account is made with it, on the pages and
/// on JSON alike. Before, the form had only the password fields and the handler passed only
/// those: every sign-up answered 422 with the same page, no error and no account.
fn signing_up_through_the_link_takes_the_apps_required_fields() {
    use pow_core::users::{ChangesetAction, FieldDef, FieldKind};
    let users = sqlite();
    let mailer = pow_actix::mailer::MemoryMailer::new();
    let config = PowConfig::builder("k".repeat(64))
        .users(users.clone())
        .mailer(Arc::new(mailer.clone()))
        .hasher(Pbkdf2Hasher::new(1))
        .base_url("http://localhost")
        .store(Arc::new(MemoryStore::new()))
        .user_field(FieldDef::new("name", FieldKind::Text).castable().required())
        .changeset_hook(
            |cs: &mut pow_core::users::Changeset, _: &pow_core::users::UserSchema| {
                if cs.action == ChangesetAction::Create {
                    cs.validate_required("name");
                }
            },
        )
        .extension(pow_ext_email_confirmation::EmailConfirmation::new())
        .extension(Organizations::new())
        .build()
        .unwrap();
    users.migrate(&config).unwrap();
    {
        use diesel::RunQueryDsl as _;
        let tables = pow_core::users::diesel::Tables::of(&config, "tests").unwrap();
        let sql = format!("ALTER TABLE {} ADD COLUMN name TEXT", tables.table("users"));
        actix_web::rt::System::new()
            .block_on(tables.run(move |db| {
                pow_core::with_connection!(db, conn => diesel::sql_query(&sql)
                    .execute(conn)
                    .map_err(pow_core::users::diesel::query_error))?;
                Ok(())
            }))
            .unwrap();
    }
    let mut params = pow_core::users::sign_up_params(config.user_schema(), OWNER, PASSWORD);
    params.insert("name".into(), "Ada".into());
    let owner = config
        .users_context()
        .unwrap()
        .create(config.user_schema(), &params)
        .unwrap()
        .unwrap();
    prove(&config, &owner);
    let h = Harness {
        api: serve(config.clone()),
        pages: pow_testkit::serve(config.clone()),
        config,
        owner,
        mailer,
    };
    let ada = Api::sign_in(h.api, OWNER);
    create(&ada, "acme");
    for email in ["page@example.com", "json@example.com"] {
        assert_eq!(invite(&ada, "acme", email, "member").status, 202);
    }

    // The page: the field is on the form; without it, its error; with it, an account.
    let link = links(&h, "page@example.com").pop().unwrap();
    let path = format!("/organization-invitations/{link}");
    let mut browser = Client::new(h.pages);
    let page = browser.get(&path);
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("name=\"user[name]\""), "{}", page.body);
    let csrf = page.csrf();
    let mut form = vec![
        ("_csrf_token", csrf.as_str()),
        ("user[password]", PASSWORD),
        ("user[password_confirmation]", PASSWORD),
    ];
    let missing = browser.post(&path, &form);
    assert_eq!(missing.status, 422, "{}", missing.body);
    assert!(missing.body.contains("blank"), "{}", missing.body);
    let csrf = missing.csrf();
    form[0].1 = csrf.as_str();
    form.push(("user[name]", "Page"));
    let res = browser.post(&path, &form);
    assert_eq!(res.status, 302, "{}", res.body);

    // JSON: the app's fields under `user`, as the registration takes them.
    let link = links(&h, "json@example.com").pop().unwrap();
    let mut c = json_client(h.api, None);
    let path = format!("/api/v1/organization-invitations/{link}");
    let body = json!({ "password": PASSWORD, "password_confirmation": PASSWORD });
    let missing = c.request("POST", &path, Some(body.to_string()));
    assert_eq!(missing.status, 422, "{}", missing.body);
    assert!(missing.body.contains("name"), "{}", missing.body);
    let body = json!({
        "password": PASSWORD,
        "password_confirmation": PASSWORD,
        "user": { "name": "Jason" },
    });
    let res = c.request("POST", &path, Some(body.to_string()));
    assert_eq!(res.status, 200, "{}", res.body);

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    for (email, name) in [("page@example.com", "Page"), ("json@example.com", "Jason")] {
        let made = rt
            .block_on(h.config.users().unwrap().get_by("email", email))
            .unwrap()
            .unwrap();
        assert_eq!(made.get_str("name"), Some(name));
    }
}

fn signing_up_through_the_link_proves_the_address_on_sqlite() {
    signing_up_through_the_link_proves_the_address(sqlite());
}

fn signing_up_through_the_link_proves_the_address_on_postgres() {
    if let Some(users) = postgres() {
        signing_up_through_the_link_proves_the_address(users);
    }
}

fn inviting_answers_alike_for_every_address(users: DieselUsersContext) {
    let h = start(users);
    let ada = Api::sign_in(h.api, OWNER);
    create(&ada, "acme");
    join(&h, &ada, "acme", "member@example.com", "member");
    user(&h.config, "account@example.com");
    let before = h.mailer.deliveries().len();
    let answers: Vec<_> = [
        "member@example.com",
        "account@example.com",
        "nobody@example.com",
    ]
    .iter()
    .map(|email| {
        let res = invite(&ada, "acme", email, "member");
        (res.status, res.body)
    })
    .collect();
    for not_an_address in ["nobody", "a@b@c", "with space@example.com", ""] {
        let res = invite(&ada, "acme", not_an_address, "member");
        assert_refused(&res, 422, "invalid_email");
    }
    assert!(
        answers.iter().all(|answer| *answer == answers[0]),
        "{answers:?}"
    );
    assert_eq!(answers[0].0, 202);
    // A member gets no mail; the others do.
    let sent: Vec<_> = h.mailer.deliveries()[before..]
        .iter()
        .map(|mail| mail.to.clone())
        .collect();
    assert_eq!(sent, ["account@example.com", "nobody@example.com"]);
    let pending = json_of(&ada.get("/organizations/acme/invitations"))["data"].clone();
    let emails: Vec<_> = pending
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["email"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(emails.len(), 2, "{pending}");
    // The list never holds a link.
    for link in links(&h, "nobody@example.com") {
        assert!(!pending.to_string().contains(&link));
    }
}

fn inviting_answers_alike_for_every_address_on_sqlite() {
    inviting_answers_alike_for_every_address(sqlite());
}

fn inviting_answers_alike_for_every_address_on_postgres() {
    if let Some(users) = postgres() {
        inviting_answers_alike_for_every_address(users);
    }
}

fn a_resent_invitation_keeps_the_first_link_and_revoking_ends_both(users: DieselUsersContext) {
    let h = start(users);
    let ada = Api::sign_in(h.api, OWNER);
    create(&ada, "acme");
    let bob = user(&h.config, "bob@example.com");
    assert_eq!(
        invite(&ada, "acme", "bob@example.com", "member").status,
        202
    );
    let id = json_of(&ada.get("/organizations/acme/invitations"))["data"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let res = ada.call(
        "POST",
        &format!("/organizations/acme/invitations/{id}/resend"),
        json!({}),
    );
    assert_eq!(res.status, 202, "{}", res.body);
    let sent = links(&h, "bob@example.com");
    assert_eq!(sent.len(), 2);
    assert_ne!(sent[0], sent[1]);
    let anyone = json_client(h.api, None);
    let mut anyone = anyone;
    for link in &sent {
        assert_eq!(
            anyone
                .get(&format!("/api/v1/organization-invitations/{link}"))
                .status,
            200
        );
    }
    // The first link works; then both are used up.
    let bob_api = Api::sign_in(h.api, "bob@example.com");
    assert_eq!(accept(&bob_api, &sent[0]).status, 200);
    assert_refused(&accept(&bob_api, &sent[1]), 404, "invalid_invitation");
    assert!(roles(&ada, "acme").contains(&(bob.id, "member".to_owned())));
    // A revoked invitation's links stop working.
    user(&h.config, "carl@example.com");
    assert_eq!(
        invite(&ada, "acme", "carl@example.com", "member").status,
        202
    );
    let id = json_of(&ada.get("/organizations/acme/invitations"))["data"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        ada.call(
            "DELETE",
            &format!("/organizations/acme/invitations/{id}"),
            json!({})
        )
        .status,
        200
    );
    let link = links(&h, "carl@example.com").pop().unwrap();
    let carl = Api::sign_in(h.api, "carl@example.com");
    assert_refused(&accept(&carl, &link), 404, "invalid_invitation");
    assert_refused(
        &ada.call(
            "DELETE",
            &format!("/organizations/acme/invitations/{id}"),
            json!({}),
        ),
        404,
        "not_found",
    );
}

/// Re-sending an invitation is no mail cannon: an address gets at most three
/// organization invitation mails an hour, however often a member re-sends (any user can
/// make an organization and names the mails' subject); the answer stays the same. Before,
/// 25 re-sends sent 26 mails.
fn resent_invitations_keep_to_the_addresss_share_of_mails() {
    let h = start(sqlite());
    let ada = Api::sign_in(h.api, OWNER);
    create(&ada, "acme");
    assert_eq!(
        invite(&ada, "acme", "target@example.com", "member").status,
        202
    );
    let id = json_of(&ada.get("/organizations/acme/invitations"))["data"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for _ in 0..10 {
        let res = ada.call(
            "POST",
            &format!("/organizations/acme/invitations/{id}/resend"),
            json!({}),
        );
        assert_eq!(res.status, 202, "{}", res.body);
    }
    assert_eq!(links(&h, "target@example.com").len(), 3);
}

fn a_resent_invitation_keeps_the_first_link_and_revoking_ends_both_on_sqlite() {
    a_resent_invitation_keeps_the_first_link_and_revoking_ends_both(sqlite());
}

fn a_resent_invitation_keeps_the_first_link_and_revoking_ends_both_on_postgres() {
    if let Some(users) = postgres() {
        a_resent_invitation_keeps_the_first_link_and_revoking_ends_both(users);
    }
}

fn the_caps_hold(users: DieselUsersContext) {
    let h = start_with(
        users,
        Organizations::new()
            .max_members(2)
            .max_pending_invitations(2),
    );
    let ada = Api::sign_in(h.api, OWNER);
    create(&ada, "acme");
    for email in ["bob@example.com", "carl@example.com"] {
        user(&h.config, email);
        assert_eq!(invite(&ada, "acme", email, "member").status, 202);
    }
    assert_refused(
        &invite(&ada, "acme", "dora@example.com", "member"),
        409,
        "organization_full",
    );
    let bob = Api::sign_in(h.api, "bob@example.com");
    assert_eq!(accept(&bob, &links(&h, "bob@example.com")[0]).status, 200);
    // Two members: the organization is full.
    let carl = Api::sign_in(h.api, "carl@example.com");
    assert_refused(
        &accept(&carl, &links(&h, "carl@example.com")[0]),
        409,
        "organization_full",
    );
}

fn the_caps_hold_on_sqlite() {
    the_caps_hold(sqlite());
}

fn the_caps_hold_on_postgres() {
    if let Some(users) = postgres() {
        the_caps_hold(users);
    }
}

// -- 5. The active organization.

fn the_active_organization_is_per_session_and_remembered(users: DieselUsersContext) {
    let h = start(users);
    let ada = Api::sign_in(h.api, OWNER);
    create(&ada, "acme");
    create(&ada, "globex");
    let first = ada.invoices();
    assert_eq!(first.status, 200, "{}", first.body);
    let res = ada.call("POST", "/organizations/globex/activate", json!({}));
    assert_eq!(res.status, 200, "{}", res.body);
    assert_eq!(ada.invoices().body, "invoices of globex");
    let res = ada.call("POST", "/organizations/acme/activate", json!({}));
    assert_eq!(res.status, 200, "{}", res.body);
    assert_eq!(ada.invoices().body, "invoices of acme");
    // Another session keeps its own choice; a new one starts with the last chosen.
    let other = Api::sign_in(h.api, OWNER);
    assert_eq!(other.invoices().body, "invoices of acme");
    other.call("POST", "/organizations/globex/activate", json!({}));
    assert_eq!(other.invoices().body, "invoices of globex");
    assert_eq!(ada.invoices().body, "invoices of acme");
    let next = Api::sign_in(h.api, OWNER);
    assert_eq!(next.invoices().body, "invoices of globex");
    // An organization one is not a member of cannot be made active.
    let eve_user = user(&h.config, "eve@example.com");
    let eve = Api::sign_in(h.api, "eve@example.com");
    assert_refused(
        &eve.call("POST", "/organizations/acme/activate", json!({})),
        404,
        "not_found",
    );
    assert_refused(&eve.invoices(), 403, "no_active_organization");
    let _ = eve_user;
    assert_refused(
        &json_client(h.api, None).get("/app/invoices"),
        401,
        "not_authenticated",
    );
}

fn the_active_organization_is_per_session_and_remembered_on_sqlite() {
    the_active_organization_is_per_session_and_remembered(sqlite());
}

fn the_active_organization_is_per_session_and_remembered_on_postgres() {
    if let Some(users) = postgres() {
        the_active_organization_is_per_session_and_remembered(users);
    }
}

fn a_removed_member_loses_the_organization_on_the_next_request(users: DieselUsersContext) {
    let h = start(users);
    let ada = Api::sign_in(h.api, OWNER);
    create(&ada, "acme");
    let (bob, bob_api) = join(&h, &ada, "acme", "bob@example.com", "admin");
    let res = bob_api.call("POST", "/organizations/acme/activate", json!({}));
    assert_eq!(res.status, 200, "{}", res.body);
    assert_eq!(bob_api.invoices().body, "invoices of acme");
    // A demotion counts at once, and so does the removal.
    ada.call(
        "PATCH",
        &format!("/organizations/acme/members/{}", bob.id),
        json!({ "role": "member" }),
    );
    assert_refused(&bob_api.invoices(), 403, "forbidden");
    let res = ada.call(
        "DELETE",
        &format!("/organizations/acme/members/{}", bob.id),
        json!({}),
    );
    assert_eq!(res.status, 200, "{}", res.body);
    assert_refused(&bob_api.invoices(), 403, "no_active_organization");
    assert_refused(
        &bob_api.get("/organizations/acme/members"),
        404,
        "not_found",
    );
}

fn a_removed_member_loses_the_organization_on_the_next_request_on_sqlite() {
    a_removed_member_loses_the_organization_on_the_next_request(sqlite());
}

fn a_removed_member_loses_the_organization_on_the_next_request_on_postgres() {
    if let Some(users) = postgres() {
        a_removed_member_loses_the_organization_on_the_next_request(users);
    }
}

// -- 6. Erasure and export.

fn erasing_the_last_owner_passes_ownership_on(users: DieselUsersContext) {
    let h = start(users);
    let ada = Api::sign_in(h.api, OWNER);
    create(&ada, "acme");
    create(&ada, "solo");
    let (carl, _) = join(&h, &ada, "acme", "carl@example.com", "member");
    let (bob, bob_api) = join(&h, &ada, "acme", "bob@example.com", "admin");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let export = rt
        .block_on(pow_core::admin::export_user(&h.config, &h.owner))
        .unwrap();
    let exported = export["extensions"]["pow_organizations"].to_string();
    assert!(
        exported.contains("\"acme\"")
            && exported.contains("\"solo\"")
            && exported.contains("owner"),
        "{export}"
    );
    rt.block_on(pow_core::admin::erase_account(
        &h.config,
        &h.owner,
        pow_core::admin::RowErasure::Delete,
    ))
    .unwrap();
    // The admin outranks the longer-standing member: they own it now.
    let mut got = roles(&bob_api, "acme");
    got.sort();
    let mut want = vec![(bob.id, "owner".to_owned()), (carl.id, "member".to_owned())];
    want.sort();
    assert_eq!(got, want);
    // Nobody was left in the other one: it is closed.
    let user = rt
        .block_on(h.config.users().unwrap().get(bob.id))
        .unwrap()
        .unwrap();
    assert!(rt
        .block_on(pow_ext_organizations::flows::membership(
            &h.config, &user, "solo"
        ))
        .unwrap()
        .is_none());
    let listed = rt
        .block_on(pow_ext_organizations::flows::memberships(&h.config, &user))
        .unwrap();
    assert_eq!(listed.len(), 1);
}

fn erasing_the_last_owner_passes_ownership_on_on_sqlite() {
    erasing_the_last_owner_passes_ownership_on(sqlite());
}

fn erasing_the_last_owner_passes_ownership_on_on_postgres() {
    if let Some(users) = postgres() {
        erasing_the_last_owner_passes_ownership_on(users);
    }
}

/// Account deletion by its owner ends an account as erasure does: the last owner's
/// deletion passes ownership on, and an organization left with nobody is closed (its slug
/// free again). Before, the row went first and the memberships by cascade: an admin was
/// left with no owner, and a one-member organization kept its slug with no member.
fn deleting_the_last_owners_account_passes_ownership_on(users: DieselUsersContext) {
    let h = start(users);
    let ada = Api::sign_in(h.api, OWNER);
    create(&ada, "acme");
    create(&ada, "solo");
    let (bob, bob_api) = join(&h, &ada, "acme", "bob@example.com", "admin");
    let res = ada.call("DELETE", "/registration", json!({}));
    assert_eq!(res.status, 204, "{}", res.body);
    assert_eq!(roles(&bob_api, "acme"), vec![(bob.id, "owner".to_owned())]);
    // The one-member organization is closed: the purge of closed ones takes it.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let far = chrono::Utc::now() + chrono::Duration::days(3650);
    let purged = rt
        .block_on(pow_ext_organizations::flows::purge_due(&h.config, far))
        .unwrap();
    assert_eq!(purged, 1, "solo was closed");
}

fn deleting_the_last_owners_account_passes_ownership_on_on_sqlite() {
    deleting_the_last_owners_account_passes_ownership_on(sqlite());
}

fn deleting_the_last_owners_account_passes_ownership_on_on_postgres() {
    if let Some(users) = postgres() {
        deleting_the_last_owners_account_passes_ownership_on(users);
    }
}

// -- 7. The pages.

fn the_pages_answer_like_the_json(users: DieselUsersContext) {
    let h = start(users);
    let mut browser = Client::new(h.pages);
    browser.sign_in(OWNER, PASSWORD);
    let page = browser.get("/organizations");
    assert_eq!(page.status, 200, "{}", page.body);
    let csrf = page.csrf();
    let res = browser.post(
        "/organizations",
        &[
            ("_csrf_token", csrf.as_str()),
            ("user[name]", "Acme"),
            ("user[slug]", "acme"),
        ],
    );
    assert_eq!(
        (res.status, res.location()),
        (302, "/organizations/acme"),
        "{}",
        res.body
    );
    // A taken slug: the form again, with its error, as the JSON refuses it.
    let res = browser.post(
        "/organizations",
        &[
            ("_csrf_token", csrf.as_str()),
            ("user[name]", "Acme"),
            ("user[slug]", "acme"),
        ],
    );
    assert_eq!(res.status, 422, "{}", res.body);
    assert!(
        res.body.contains("That short name is taken."),
        "{}",
        res.body
    );
    // Invite from the organization's page; the link's page accepts.
    let page = browser.get("/organizations/acme");
    assert_eq!(page.status, 200);
    assert!(
        page.body.contains("ada@example.com: owner"),
        "{}",
        page.body
    );
    let csrf = page.csrf();
    user(&h.config, "bob@example.com");
    let res = browser.post(
        "/organizations/acme/invite",
        &[
            ("_csrf_token", csrf.as_str()),
            ("user[email]", "bob@example.com"),
            ("user[role]", "member"),
        ],
    );
    assert_eq!(
        (res.status, res.location()),
        (302, "/organizations/acme"),
        "{}",
        res.body
    );
    // The last owner cannot leave: the flash says why.
    let res = browser.post(
        "/organizations/acme/leave",
        &[("_csrf_token", csrf.as_str())],
    );
    assert_eq!(res.status, 302);
    let page = browser.get(res.location());
    assert!(
        page.body.contains("An organization needs an owner"),
        "{}",
        page.body
    );
    let link = links(&h, "bob@example.com").pop().unwrap();
    let mut bob = Client::new(h.pages);
    bob.sign_in("bob@example.com", PASSWORD);
    let shown = bob.get(&format!("/organization-invitations/{link}"));
    assert_eq!(shown.status, 200, "{}", shown.body);
    assert!(
        shown
            .body
            .contains("You are invited to join Acme as member"),
        "{}",
        shown.body
    );
    let csrf = shown.csrf();
    let res = bob.post(
        &format!("/organization-invitations/{link}"),
        &[("_csrf_token", csrf.as_str())],
    );
    assert_eq!(
        (res.status, res.location()),
        (302, "/organizations/acme"),
        "{}",
        res.body
    );
    // Used up: the page says so, as the JSON does.
    let res = bob.get(&format!("/organization-invitations/{link}"));
    assert_eq!(res.status, 302);
    let api_answer =
        json_client(h.api, None).get(&format!("/api/v1/organization-invitations/{link}"));
    assert_refused(&api_answer, 404, "invalid_invitation");
    // Signed out, the page offers the sign-up form.
    assert_eq!(
        invite(
            &Api::sign_in(h.api, OWNER),
            "acme",
            "new@example.com",
            "member"
        )
        .status,
        202
    );
    let link = links(&h, "new@example.com").pop().unwrap();
    let mut stranger = Client::new(h.pages);
    let shown = stranger.get(&format!("/organization-invitations/{link}"));
    assert_eq!(shown.status, 200);
    assert!(
        shown.body.contains("password_confirmation"),
        "{}",
        shown.body
    );
    let csrf = shown.csrf();
    let res = stranger.post(
        &format!("/organization-invitations/{link}"),
        &[
            ("_csrf_token", csrf.as_str()),
            ("user[password]", PASSWORD),
            ("user[password_confirmation]", PASSWORD),
        ],
    );
    assert_eq!(
        (res.status, res.location()),
        (302, "/organizations/acme"),
        "{}",
        res.body
    );
    assert_eq!(stranger.get("/organizations/acme").status, 200);
    let _ = Duration::ZERO;
}

fn the_pages_answer_like_the_json_on_sqlite() {
    the_pages_answer_like_the_json(sqlite());
}

fn the_pages_answer_like_the_json_on_postgres() {
    if let Some(users) = postgres() {
        the_pages_answer_like_the_json(users);
    }
}

// -- 8. Teams.

fn teams_hold_members_only_with_roles_of_their_own(users: DieselUsersContext) {
    let h = start_with(users, Organizations::new().teams(true));
    let ada = Api::sign_in(h.api, OWNER);
    create(&ada, "acme");
    let (bob, bob_api) = join(&h, &ada, "acme", "bob@example.com", "member");
    let (carl, carl_api) = join(&h, &ada, "acme", "carl@example.com", "member");
    let eve = user(&h.config, "eve@example.com");
    let res = ada.call(
        "POST",
        "/organizations/acme/teams",
        json!({ "name": "Platform" }),
    );
    assert_eq!(res.status, 201, "{}", res.body);
    let team = json_of(&res)["data"]["id"].as_str().unwrap().to_owned();
    let taken = ada.call(
        "POST",
        "/organizations/acme/teams",
        json!({ "name": "Platform" }),
    );
    assert_refused(&taken, 422, "invalid_team");
    assert_refused(
        &bob_api.call(
            "POST",
            "/organizations/acme/teams",
            json!({ "name": "Mine" }),
        ),
        403,
        "forbidden",
    );
    let members = |api: &Api| -> Vec<(i64, String)> {
        let res = api.get(&format!("/organizations/acme/teams/{team}/members"));
        assert_eq!(res.status, 200, "{}", res.body);
        json_of(&res)["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                (
                    m["user_id"].as_i64().unwrap(),
                    m["role"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    };
    let put = |api: &Api, who: i64, role: &str| {
        api.call(
            "PUT",
            &format!("/organizations/acme/teams/{team}/members/{who}"),
            json!({ "role": role }),
        )
    };
    // Only the organization's members: nobody joins a team otherwise.
    assert_refused(&put(&ada, eve.id, "member"), 404, "not_found");
    assert_refused(&put(&ada, carl.id, "chief"), 422, "unknown_role");
    assert_eq!(put(&ada, carl.id, "lead").status, 200);
    // The lead manages the roles below theirs; a plain member manages nothing.
    assert_refused(&put(&bob_api, bob.id, "member"), 403, "forbidden");
    assert_eq!(put(&carl_api, bob.id, "member").status, 200);
    assert_refused(&put(&carl_api, bob.id, "lead"), 403, "forbidden");
    let mut got = members(&bob_api);
    got.sort();
    let mut want = vec![(carl.id, "lead".to_owned()), (bob.id, "member".to_owned())];
    want.sort();
    assert_eq!(got, want);
    // Anyone leaves a team.
    let res = bob_api.call(
        "DELETE",
        &format!("/organizations/acme/teams/{team}/members/{}", bob.id),
        json!({}),
    );
    assert_eq!(res.status, 200, "{}", res.body);
    assert_eq!(members(&ada), vec![(carl.id, "lead".to_owned())]);
    // The team is in its members' exports.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let export = rt
        .block_on(pow_core::admin::export_user(&h.config, &carl))
        .unwrap();
    let exported = &export["extensions"]["pow_organizations"]["teams"];
    assert_eq!(
        exported,
        &json!([{ "organization": "acme", "team": "Platform", "role": "lead" }])
    );
    // Leaving the organization takes a member out of its teams at once.
    assert_eq!(put(&ada, bob.id, "member").status, 200);
    assert_eq!(
        ada.call(
            "DELETE",
            &format!("/organizations/acme/members/{}", carl.id),
            json!({})
        )
        .status,
        200
    );
    assert_eq!(members(&ada), vec![(bob.id, "member".to_owned())]);
    let listed = json_of(&bob_api.get("/organizations/acme/teams"))["data"].clone();
    assert_eq!(listed[0]["name"], "Platform");
    assert_refused(&carl_api.get("/organizations/acme/teams"), 404, "not_found");
    // Renamed, then deleted: its members stay in the organization.
    let res = ada.call(
        "PATCH",
        &format!("/organizations/acme/teams/{team}"),
        json!({ "name": "Core" }),
    );
    assert_eq!(
        (res.status, json_of(&res)["data"]["name"].as_str()),
        (200, Some("Core"))
    );
    assert_eq!(
        ada.call(
            "DELETE",
            &format!("/organizations/acme/teams/{team}"),
            json!({})
        )
        .status,
        200
    );
    assert_eq!(
        json_of(&ada.get("/organizations/acme/teams"))["data"],
        json!([])
    );
    assert!(roles(&ada, "acme").contains(&(bob.id, "member".to_owned())));
}

fn teams_hold_members_only_with_roles_of_their_own_on_sqlite() {
    teams_hold_members_only_with_roles_of_their_own(sqlite());
}

fn teams_hold_members_only_with_roles_of_their_own_on_postgres() {
    if let Some(users) = postgres() {
        teams_hold_members_only_with_roles_of_their_own(users);
    }
}

fn teams_are_off_unless_turned_on_and_their_pages_work() {
    let off = start(sqlite());
    let ada = Api::sign_in(off.api, OWNER);
    create(&ada, "acme");
    assert_eq!(ada.get("/organizations/acme/teams").status, 404);
    let h = start_with(sqlite(), Organizations::new().teams(true).max_teams(1));
    let ada = Api::sign_in(h.api, OWNER);
    create(&ada, "acme");
    join(&h, &ada, "acme", "bob@example.com", "member");
    let mut browser = Client::new(h.pages);
    browser.sign_in(OWNER, PASSWORD);
    let page = browser.get("/organizations/acme");
    let csrf = page.csrf();
    let res = browser.post(
        "/organizations/acme/teams",
        &[("_csrf_token", csrf.as_str()), ("user[name]", "Platform")],
    );
    assert_eq!(res.status, 302, "{}", res.body);
    let team_page = res.location().to_owned();
    assert!(
        team_page.starts_with("/organizations/acme/teams/"),
        "{team_page}"
    );
    let res = browser.post(
        &format!("{team_page}/members"),
        &[
            ("_csrf_token", csrf.as_str()),
            ("user[email]", "bob@example.com"),
            ("user[role]", "lead"),
        ],
    );
    assert_eq!(
        (res.status, res.location()),
        (302, team_page.as_str()),
        "{}",
        res.body
    );
    let shown = browser.get(&team_page);
    assert!(
        shown.body.contains("bob@example.com: lead"),
        "{}",
        shown.body
    );
    // One team at the most.
    let res = ada.call(
        "POST",
        "/organizations/acme/teams",
        json!({ "name": "Other" }),
    );
    assert_refused(&res, 409, "organization_full");
}

// -- 9. Verified domains.

fn domains_are_proven_by_txt_records_and_let_proven_addresses_join(users: DieselUsersContext) {
    use pow_ext_organizations::domains::StaticTxt;
    let dns = StaticTxt::new();
    // Unconfirmed users may sign in: joining still asks for a proven address.
    let confirmation = pow_ext_email_confirmation::EmailConfirmation::new().soft(true);
    let h = start_full(
        users,
        Organizations::new().domains(dns.clone()),
        confirmation,
    );
    let ada = Api::sign_in(h.api, OWNER);
    create(&ada, "acme");
    // Public suffixes and malformed names are refused.
    for refused in ["com", "co.uk", "not a domain"] {
        let res = ada.call(
            "POST",
            "/organizations/acme/domains",
            json!({ "domain": refused }),
        );
        assert_refused(&res, 422, "invalid_domain");
    }
    let res = ada.call(
        "POST",
        "/organizations/acme/domains",
        json!({ "domain": "Acme.com." }),
    );
    assert_eq!(res.status, 201, "{}", res.body);
    let added = json_of(&res)["data"].clone();
    assert_eq!(added["domain"], "acme.com");
    assert_eq!(added["record"]["name"], "_pow-verification.acme.com");
    let id = added["id"].as_str().unwrap().to_owned();
    let verify = |api: &Api, slug: &str, id: &str| {
        api.call(
            "POST",
            &format!("/organizations/{slug}/domains/{id}/verify"),
            json!({}),
        )
    };
    // Not proven until the record is there.
    assert_refused(&verify(&ada, "acme", &id), 422, "domain_not_proven");
    dns.set(
        "_pow-verification.acme.com",
        ["v=spf1 -all", "pow-verification=wrong"],
    );
    assert_refused(&verify(&ada, "acme", &id), 422, "domain_not_proven");
    dns.set(
        "_pow-verification.acme.com",
        [added["record"]["value"].as_str().unwrap()],
    );
    let res = verify(&ada, "acme", &id);
    assert_eq!(res.status, 200, "{}", res.body);
    assert!(json_of(&res)["data"]["verified_at"].is_string());
    // A verified domain belongs to one organization.
    user(&h.config, "rival@example.com");
    let rival = Api::sign_in(h.api, "rival@example.com");
    create(&rival, "rival");
    let res = rival.call(
        "POST",
        "/organizations/rival/domains",
        json!({ "domain": "acme.com" }),
    );
    let theirs = json_of(&res)["data"].clone();
    dns.set(
        "_pow-verification.acme.com",
        [theirs["record"]["value"].as_str().unwrap()],
    );
    assert_refused(
        &verify(&rival, "rival", theirs["id"].as_str().unwrap()),
        409,
        "domain_taken",
    );
    // Off by default: nobody joins.
    user(&h.config, "dave@acme.com");
    let dave = Api::sign_in(h.api, "dave@acme.com");
    assert_eq!(
        json_of(&dave.get("/organizations/joinable"))["data"],
        json!([])
    );
    assert_refused(
        &dave.call("POST", "/organizations/acme/join", json!({})),
        404,
        "not_found",
    );
    // Automatic: a proven address at the domain joins at once, as a member.
    let policy = |policy: &str| {
        ada.call(
            "PATCH",
            &format!("/organizations/acme/domains/{id}"),
            json!({ "join_policy": policy }),
        )
    };
    assert_eq!(policy("automatic").status, 200);
    let joinable = json_of(&dave.get("/organizations/joinable"))["data"].clone();
    assert_eq!(
        joinable,
        json!([{ "organization": { "name": "ACME", "slug": "acme" }, "join_policy": "automatic" }])
    );
    let res = dave.call("POST", "/organizations/acme/join", json!({}));
    assert_eq!(
        (res.status, json_of(&res)["data"]["role"].as_str()),
        (200, Some("member")),
        "{}",
        res.body
    );
    // Not an address proven at the domain: refused alike.
    unproven(&h.config, "erin@acme.com");
    let erin = Api::sign_in(h.api, "erin@acme.com");
    assert_eq!(
        json_of(&erin.get("/organizations/joinable"))["data"],
        json!([])
    );
    assert_refused(
        &erin.call("POST", "/organizations/acme/join", json!({})),
        404,
        "not_found",
    );
    assert_refused(
        &rival.call("POST", "/organizations/acme/join", json!({})),
        404,
        "not_found",
    );
    // A member manages no domains.
    assert_refused(
        &dave.call(
            "POST",
            "/organizations/acme/domains",
            json!({ "domain": "acme.org" }),
        ),
        403,
        "forbidden",
    );
    // Request: an admin decides.
    assert_eq!(policy("request").status, 200);
    let frank = user(&h.config, "frank@acme.com");
    let frank_api = Api::sign_in(h.api, "frank@acme.com");
    let res = frank_api.call("POST", "/organizations/acme/join", json!({}));
    assert_eq!(res.status, 202, "{}", res.body);
    assert_refused(&frank_api.get("/organizations/acme"), 404, "not_found");
    assert_refused(
        &dave.get("/organizations/acme/join-requests"),
        403,
        "forbidden",
    );
    let waiting = json_of(&ada.get("/organizations/acme/join-requests"))["data"].clone();
    assert_eq!(waiting[0]["email"], "frank@acme.com");
    let res = ada.call(
        "POST",
        &format!("/organizations/acme/join-requests/{}/approve", frank.id),
        json!({}),
    );
    assert_eq!(res.status, 200, "{}", res.body);
    assert_eq!(
        json_of(&frank_api.get("/organizations/acme"))["data"]["role"],
        "member"
    );
    let gus = user(&h.config, "gus@acme.com");
    let gus_api = Api::sign_in(h.api, "gus@acme.com");
    assert_eq!(
        gus_api
            .call("POST", "/organizations/acme/join", json!({}))
            .status,
        202
    );
    let res = ada.call(
        "POST",
        &format!("/organizations/acme/join-requests/{}/deny", gus.id),
        json!({}),
    );
    assert_eq!(res.status, 200, "{}", res.body);
    assert_refused(&gus_api.get("/organizations/acme"), 404, "not_found");
    assert_eq!(
        json_of(&ada.get("/organizations/acme/join-requests"))["data"],
        json!([])
    );
    // A request the domain no longer allows is not approved, and goes.
    let hank = user(&h.config, "hank@acme.com");
    let hank_api = Api::sign_in(h.api, "hank@acme.com");
    assert_eq!(
        hank_api
            .call("POST", "/organizations/acme/join", json!({}))
            .status,
        202
    );
    assert_eq!(policy("off").status, 200);
    let res = ada.call(
        "POST",
        &format!("/organizations/acme/join-requests/{}/approve", hank.id),
        json!({}),
    );
    assert_refused(&res, 404, "not_found");
    assert_refused(&hank_api.get("/organizations/acme"), 404, "not_found");
    assert_eq!(
        json_of(&ada.get("/organizations/acme/join-requests"))["data"],
        json!([])
    );
    // Given up: nobody joins through it any more.
    assert_eq!(
        ada.call(
            "DELETE",
            &format!("/organizations/acme/domains/{id}"),
            json!({})
        )
        .status,
        200
    );
    assert_eq!(
        json_of(&gus_api.get("/organizations/joinable"))["data"],
        json!([])
    );
}

fn domains_are_proven_by_txt_records_and_let_proven_addresses_join_on_sqlite() {
    domains_are_proven_by_txt_records_and_let_proven_addresses_join(sqlite());
}

fn domains_are_proven_by_txt_records_and_let_proven_addresses_join_on_postgres() {
    if let Some(users) = postgres() {
        domains_are_proven_by_txt_records_and_let_proven_addresses_join(users);
    }
}

/// A DNS-over-HTTPS resolver on a loopback port, answering TXT queries from `records`.
fn fake_doh(
    records: Arc<std::sync::Mutex<std::collections::BTreeMap<String, String>>>,
) -> SocketAddr {
    use axum::extract::Query;
    use axum::routing::get;
    let app = axum::Router::new().route(
        "/dns-query",
        get(
            move |Query(query): Query<std::collections::BTreeMap<String, String>>| {
                let records = Arc::clone(&records);
                async move {
                    assert_eq!(query.get("type").map(String::as_str), Some("TXT"));
                    let name = query.get("name").cloned().unwrap_or_default();
                    let found = records.lock().unwrap().get(&name).cloned();
                    axum::Json(match found {
                        Some(value) => json!({ "Status": 0, "Answer": [
                        { "name": name, "type": 16, "TTL": 60, "data": format!("\"{value}\"") },
                    ] }),
                        None => json!({ "Status": 3 }),
                    })
                }
            },
        ),
    );
    pow_testkit::serve_axum(app)
}

fn the_dns_over_https_resolver_proves_a_domain() {
    use pow_ext_organizations::domains::DohResolver;
    let records = Arc::new(std::sync::Mutex::new(std::collections::BTreeMap::new()));
    let doh = fake_doh(Arc::clone(&records));
    let resolver = DohResolver::new(format!("http://{doh}/dns-query"));
    let h = start_with(sqlite(), Organizations::new().domains(resolver));
    let ada = Api::sign_in(h.api, OWNER);
    create(&ada, "acme");
    let res = ada.call(
        "POST",
        "/organizations/acme/domains",
        json!({ "domain": "acme.com" }),
    );
    let added = json_of(&res)["data"].clone();
    let id = added["id"].as_str().unwrap();
    let path = format!("/organizations/acme/domains/{id}/verify");
    // NXDOMAIN: not proven.
    assert_refused(
        &ada.call("POST", &path, json!({})),
        422,
        "domain_not_proven",
    );
    records.lock().unwrap().insert(
        "_pow-verification.acme.com".to_owned(),
        added["record"]["value"].as_str().unwrap().to_owned(),
    );
    let res = ada.call("POST", &path, json!({}));
    assert_eq!(res.status, 200, "{}", res.body);
}

fn the_domain_pages_prove_and_join() {
    use pow_ext_organizations::domains::StaticTxt;
    let dns = StaticTxt::new();
    let h = start_with(sqlite(), Organizations::new().domains(dns.clone()));
    let mut browser = Client::new(h.pages);
    browser.sign_in(OWNER, PASSWORD);
    let csrf = browser.get("/organizations").csrf();
    browser.post(
        "/organizations",
        &[
            ("_csrf_token", csrf.as_str()),
            ("user[name]", "Acme"),
            ("user[slug]", "acme"),
        ],
    );
    let res = browser.post(
        "/organizations/acme/domains",
        &[("_csrf_token", csrf.as_str()), ("user[domain]", "acme.com")],
    );
    assert_eq!(
        (res.status, res.location()),
        (302, "/organizations/acme"),
        "{}",
        res.body
    );
    let page = browser.get("/organizations/acme");
    let at = page
        .body
        .find("pow-verification=")
        .expect("the record to publish");
    let value: String = page.body[at..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '=')
        .collect();
    dns.set("_pow-verification.acme.com", [value]);
    let ada = Api::sign_in(h.api, OWNER);
    let id = json_of(&ada.get("/organizations/acme/domains"))["data"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let res = browser.post(
        "/organizations/acme/domains/verify",
        &[("_csrf_token", csrf.as_str()), ("user[id]", id.as_str())],
    );
    assert_eq!(res.status, 302);
    let res = browser.post(
        "/organizations/acme/domains/policy",
        &[
            ("_csrf_token", csrf.as_str()),
            ("user[id]", id.as_str()),
            ("user[join_policy]", "automatic"),
        ],
    );
    assert_eq!(res.status, 302);
    let listed = json_of(&ada.get("/organizations/acme/domains"))["data"][0].clone();
    assert!(listed["verified_at"].is_string(), "{listed}");
    assert_eq!(listed["join_policy"], "automatic");
    // A proven address at the domain sees the organization and joins from the list.
    user(&h.config, "dave@acme.com");
    let mut dave = Client::new(h.pages);
    dave.sign_in("dave@acme.com", PASSWORD);
    let list = dave.get("/organizations");
    assert!(
        list.body.contains("/organizations/acme/join"),
        "{}",
        list.body
    );
    let res = dave.post(
        "/organizations/acme/join",
        &[("_csrf_token", list.csrf().as_str())],
    );
    assert_eq!(
        (res.status, res.location()),
        (302, "/organizations/acme"),
        "{}",
        res.body
    );
    assert_eq!(dave.get("/organizations/acme").status, 200);
}

pow_testkit::on_both!(
    organizations_are_created_listed_renamed_and_closed_on_sqlite,
    organizations_are_created_listed_renamed_and_closed_on_postgres,
    roles_follow_their_ranks_on_sqlite,
    roles_follow_their_ranks_on_postgres,
    the_last_owner_stays_on_sqlite,
    the_last_owner_stays_on_postgres,
    concurrent_demotions_and_removals_leave_one_owner_on_sqlite,
    concurrent_demotions_and_removals_leave_one_owner_on_postgres,
    an_invitation_is_accepted_only_by_its_proven_address_on_sqlite,
    an_invitation_is_accepted_only_by_its_proven_address_on_postgres,
    signing_up_through_the_link_proves_the_address_on_sqlite,
    signing_up_through_the_link_takes_the_apps_required_fields,
    signing_up_through_the_link_proves_the_address_on_postgres,
    inviting_answers_alike_for_every_address_on_sqlite,
    inviting_answers_alike_for_every_address_on_postgres,
    a_resent_invitation_keeps_the_first_link_and_revoking_ends_both_on_sqlite,
    a_resent_invitation_keeps_the_first_link_and_revoking_ends_both_on_postgres,
    resent_invitations_keep_to_the_addresss_share_of_mails,
    the_caps_hold_on_sqlite,
    the_caps_hold_on_postgres,
    the_active_organization_is_per_session_and_remembered_on_sqlite,
    the_active_organization_is_per_session_and_remembered_on_postgres,
    a_removed_member_loses_the_organization_on_the_next_request_on_sqlite,
    a_removed_member_loses_the_organization_on_the_next_request_on_postgres,
    erasing_the_last_owner_passes_ownership_on_on_sqlite,
    erasing_the_last_owner_passes_ownership_on_on_postgres,
    deleting_the_last_owners_account_passes_ownership_on_on_sqlite,
    deleting_the_last_owners_account_passes_ownership_on_on_postgres,
    the_pages_answer_like_the_json_on_sqlite,
    the_pages_answer_like_the_json_on_postgres,
    teams_hold_members_only_with_roles_of_their_own_on_sqlite,
    teams_hold_members_only_with_roles_of_their_own_on_postgres,
    teams_are_off_unless_turned_on_and_their_pages_work,
    domains_are_proven_by_txt_records_and_let_proven_addresses_join_on_sqlite,
    domains_are_proven_by_txt_records_and_let_proven_addresses_join_on_postgres,
    the_dns_over_https_resolver_proves_a_domain,
    the_domain_pages_prove_and_join,
);
