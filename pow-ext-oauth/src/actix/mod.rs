//! The actix side: for an app's tests, a local OpenID Connect provider (`testing`, feature
//! `test-util`). The pages and the JSON endpoints are engine routes ([`crate::pages`],
//! `crate::api`), which every framework layer mounts.

pub mod testing;
