//! The actix side: the JSON endpoints (`json`, and `recovery` for passkey-only accounts),
//! each parsing a request, running a ceremony or flow of the engine and answering JSON.
//! The pages are engine page routes (`crate::pages`), the script an engine asset.

pub(crate) mod json;
pub(crate) mod recovery;
