//! Extensions: the engine's extension contract, re-exported. An extension registers its
//! pages, JSON routes, token hooks and OpenAPI fragment on
//! [`ExtensionBuilder`], and actix-web and axum
//! mount them alike; there is no actix-only way to add routes.

#[doc(no_inline)]
pub use pow_core::extension::*;
