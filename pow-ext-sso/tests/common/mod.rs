//! What the OpenID Connect and SAML suites share: the app's setup (an organization with a
//! verified domain, its owner), users with proven addresses, signed-in browsers.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;

use pow_actix::password::Pbkdf2Hasher;
use pow_actix::store::MemoryStore;
use pow_actix::test_client::Client;
use pow_actix::users::diesel::DieselUsersContext;
use pow_actix::{PowConfig, PowConfigBuilder};
use pow_ext_organizations::domains::StaticTxt;
use pow_ext_organizations::{Organization, Organizations};
use pow_ext_sso::Sso;

pub const PASSWORD: &str = "correct horse battery";
pub const OWNER: &str = "olga@acme.example";

/// The app served on the framework the test runs on (pages, `/me`, the JSON API), with
/// `sso` and what it stands on, more settings from `tweak`, and organization `acme` of
/// [`OWNER`] with `acme.example` verified.
pub fn serve(
    users: DieselUsersContext,
    sso: Sso,
    tweak: impl FnOnce(PowConfigBuilder) -> PowConfigBuilder,
) -> (PowConfig, SocketAddr, StaticTxt, Organization) {
    let txt = StaticTxt::new();
    let builder = PowConfig::builder("k".repeat(64))
        .users(users.clone())
        .hasher(Pbkdf2Hasher::new(1))
        .base_url("http://localhost")
        .store(Arc::new(MemoryStore::new()))
        .extension(pow_ext_email_confirmation::EmailConfirmation::new())
        .extension(pow_ext_passwordless::Passwordless::new())
        .extension(Organizations::new().domains(txt.clone()))
        .extension(sso);
    let config = tweak(builder).build().unwrap();
    users.migrate(&config).unwrap();
    let addr = pow_testkit::serve_with_api(config.clone(), pow_core::api::ApiOptions::new());
    let owner = user(&config, OWNER);
    let org = block_on(pow_ext_organizations::flows::create(
        &config, &owner, "Acme", "acme",
    ))
    .unwrap()
    .unwrap();
    verify_domain(&config, &txt, &owner, "acme", "acme.example");
    (config, addr, txt, org)
}

/// Adds `name` to organization `slug` and verifies it (its TXT record set in `txt`).
pub fn verify_domain(
    config: &PowConfig,
    txt: &StaticTxt,
    owner: &pow_core::users::User,
    slug: &str,
    name: &str,
) {
    let domain = block_on(pow_ext_organizations::domains::add(
        config, owner, slug, name,
    ))
    .unwrap()
    .unwrap();
    txt.set(&domain.record_name(), [domain.record_value()]);
    block_on(pow_ext_organizations::domains::verify(
        config, owner, slug, &domain.id,
    ))
    .unwrap()
    .unwrap();
}

/// A user with a password and a proven address.
pub fn user(config: &PowConfig, email: &str) -> pow_core::users::User {
    let user = pow_actix::testing::create_user(config, email, PASSWORD).unwrap();
    let proof = Arc::clone(config.extensions().address_proof().unwrap());
    let users = config.users_context().unwrap();
    proof.mark_proven(users.as_ref(), config, &user).unwrap()
}

/// A browser signed in with `email`'s password.
pub fn browser(addr: SocketAddr, email: &str) -> Client {
    let mut client = Client::new(addr);
    let res = client.sign_in(email, PASSWORD);
    assert_eq!(res.status, 302, "{}", res.body);
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
