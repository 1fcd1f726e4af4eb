//! Protocol endpoints beside the pages: an extension's endpoint at a page route's path is
//! left out of the mounted table (on axum two routes at one path would panic).

#![allow(clippy::unwrap_used)]

use pow_core::extension::ExtensionBuilder;
use pow_core::pages::endpoints::{by_path, EndpointFuture, EndpointRequest, EndpointRoute};
use pow_core::pages::routes::Verb;
use pow_core::pages::HttpAnswer;
use pow_core::{Extension, PowConfig};

struct Clash;

impl Extension for Clash {
    fn name(&self) -> &'static str {
        "clash"
    }

    fn build(&self, ext: &mut ExtensionBuilder) {
        let ok = |_: PowConfig, _: EndpointRequest| -> EndpointFuture {
            Box::pin(async { HttpAnswer::text(200, "ok", None) })
        };
        ext.endpoint(EndpointRoute::new(Verb::Post, "/session", ok));
        ext.endpoint(EndpointRoute::new(Verb::Get, "/clash/jwks", ok));
    }
}

#[test]
fn an_endpoint_never_shadows_a_page() {
    let config = PowConfig::builder("s".repeat(64))
        .extension(Clash)
        .build()
        .unwrap();
    let paths: Vec<String> = by_path(&config).into_iter().map(|(path, _)| path).collect();
    assert_eq!(paths, vec!["/clash/jwks".to_owned()]);
}
