//! What the SCIM test files share: the setup (an organization with its domain verified),
//! proven users, a SCIM client.

#![allow(dead_code)]

use std::sync::Arc;

use pow_actix::password::Pbkdf2Hasher;
use pow_actix::test_client::Client;
use pow_actix::users::diesel::DieselUsersContext;
use pow_actix::PowConfig;
use pow_ext_organizations::domains::StaticTxt;
use pow_ext_organizations::Organizations;
use pow_ext_scim::Scim;

/// Every test user's password.
pub const PASSWORD: &str = "correct horse battery";

/// A setup over `users` and `store` with email confirmation, organizations whose domains
/// `txt` proves, disabling on, and `scim`.
pub fn config(
    users: &DieselUsersContext,
    store: Arc<dyn pow_core::store::Store>,
    txt: &StaticTxt,
    base_url: &str,
    scim: Scim,
) -> PowConfig {
    PowConfig::builder("k".repeat(64))
        .users(users.clone())
        .hasher(Pbkdf2Hasher::new(1))
        .base_url(base_url)
        .store(store)
        .audit(pow_core::audit::Auditor::new(
            pow_core::audit::DieselAuditSink::new(users.database().clone()),
        ))
        .user_disabling(true)
        .mailer(Arc::new(pow_actix::mailer::MemoryMailer::new()))
        .extension(pow_ext_email_confirmation::EmailConfirmation::new())
        .extension(
            Organizations::new()
                .domains(txt.clone())
                .max_members(10_000)
                .teams(true),
        )
        .extension(scim)
        .extension(pow_ext_api_keys::ApiKeys::new().scopes(["reports:read"]))
        .build()
        .unwrap()
}

/// A user with a password and a proven address.
pub fn user(config: &PowConfig, email: &str) -> pow_core::users::User {
    let user = pow_actix::testing::create_user(config, email, PASSWORD).unwrap();
    let proof = Arc::clone(config.extensions().address_proof().unwrap());
    let users = config.users_context().unwrap();
    proof.mark_proven(users.as_ref(), config, &user).unwrap()
}

/// An organization `slug` owned by a new user `owner`, with `domain` verified: the owner.
pub fn organization(
    config: &PowConfig,
    txt: &StaticTxt,
    owner: &str,
    slug: &str,
    domain: &str,
) -> pow_core::users::User {
    let owner = user(config, owner);
    block_on(pow_ext_organizations::flows::create(
        config, &owner, slug, slug,
    ))
    .unwrap()
    .unwrap();
    let claimed = block_on(pow_ext_organizations::domains::add(
        config, &owner, slug, domain,
    ))
    .unwrap()
    .unwrap();
    txt.set(&claimed.record_name(), [claimed.record_value()]);
    block_on(pow_ext_organizations::domains::verify(
        config,
        &owner,
        slug,
        &claimed.id,
    ))
    .unwrap()
    .unwrap();
    owner
}

/// Organization `acme` (domain `acme.example`) on a new SQLite database: the setup and a
/// SCIM token of it.
pub fn acme(base_url: &str, scim: Scim) -> (PowConfig, String) {
    let users = pow_testkit::sqlite("scim");
    let txt = StaticTxt::new();
    let config = config(
        &users,
        Arc::new(pow_actix::store::MemoryStore::new()),
        &txt,
        base_url,
        scim,
    );
    users.migrate(&config).unwrap();
    let owner = organization(&config, &txt, "olga@acme.example", "acme", "acme.example");
    let (_, token) = block_on(pow_ext_scim::admin::create_token(
        &config, &owner, "acme", "idp",
    ))
    .unwrap()
    .unwrap();
    (config, token)
}

/// A SCIM client of the app at `addr` with `token`.
pub fn scim_client(addr: std::net::SocketAddr, token: &str) -> Client {
    let mut client = Client::new(addr);
    client
        .headers
        .push(("authorization".into(), format!("Bearer {token}")));
    client
        .headers
        .push(("content-type".into(), "application/scim+json".into()));
    client
}

/// Runs `work` to its end on a runtime of its own.
pub fn block_on<F: std::future::Future>(work: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(work)
}
