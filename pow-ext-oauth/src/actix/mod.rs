//! The actix side: the provider round trip's pages and linked-accounts page (`html`), the
//! JSON endpoints (`json`) and, for an app's tests, a local OpenID Connect provider
//! (`testing`, feature `test-util`). Each parses a request, runs a flow of [`crate::flow`]
//! and renders its outcome.

pub(crate) mod html;
pub(crate) mod json;
#[cfg(feature = "test-util")]
pub mod testing;
