//! The provider against an independent relying party: openid-client (npm, the version
//! pinned in `conformance/openid-client/package-lock.json`, installed by `.ci/run` with
//! `npm ci`) reads the discovery document, sends the authorization request with PKCE,
//! checks `iss` on the response, exchanges the code, verifies the ID token's EdDSA
//! signature against the JWKS, calls userinfo, refreshes, sees the spent refresh token
//! refused and its family ended, and signs the user out through the end-session endpoint;
//! then a device flow. This test plays the user (`conformance/openid-client/driver.rs`).
//! On actix-web and on axum.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::TcpListener;
use std::sync::Arc;

use pow_actix::password::Pbkdf2Hasher;
use pow_actix::store::MemoryStore;
use pow_actix::PowConfig;
use pow_ext_provider::{ClientRegistration, Provider};

#[path = "../../conformance/openid-client/driver.rs"]
mod driver;

const EMAIL: &str = "ada@example.com";
const PASSWORD: &str = "correct horse battery";
const REDIRECT: &str = "https://rp.example/callback";

fn an_openid_client_relying_party_completes_the_flow() {
    let Some(dir) = driver::relying_party(concat!(env!("CARGO_MANIFEST_DIR"), "/..")) else {
        return;
    };
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let issuer = format!("http://{}", listener.local_addr().unwrap());
    let users = pow_testkit::sqlite("provider-openid-client");
    let config = PowConfig::builder("k".repeat(64))
        .users(users.clone())
        .hasher(Pbkdf2Hasher::new(1))
        .base_url(&issuer)
        .store(Arc::new(MemoryStore::new()))
        .extension(
            Provider::new()
                .device_poll_interval(std::time::Duration::from_secs(1))
                .client(
                    ClientRegistration::public("rp")
                        .name("openid-client")
                        .redirect_uri(REDIRECT)
                        .post_logout_redirect_uri("https://rp.example/signed-out")
                        .device_grant(),
                ),
        )
        .build()
        .unwrap();
    users.migrate(&config).unwrap();
    let user = pow_actix::testing::create_user(&config, EMAIL, PASSWORD).unwrap();
    let addr = pow_testkit::serve(config);
    pow_testkit::forward(listener, addr);
    let party = driver::Party {
        dir: &dir,
        issuer: &issuer,
        addr,
        client: "rp",
        redirect: REDIRECT,
        email: EMAIL,
        password: PASSWORD,
        user_id: user.id,
    };
    let mut browser = party.code_flow_and_logout();
    party.device_flow(&mut browser);
}

pow_testkit::on_both!(an_openid_client_relying_party_completes_the_flow);
