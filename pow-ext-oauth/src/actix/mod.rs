//! The actix side: the JSON endpoints (`json`) and, for an app's tests, a local OpenID
//! Connect provider (`testing`, feature `test-util`). The pages are engine page routes
//! ([`crate::pages`]), which every framework layer mounts.

pub(crate) mod json;
#[cfg(feature = "test-util")]
pub mod testing;
