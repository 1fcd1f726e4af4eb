//! The actix side: the pages and the script (`html`), the JSON endpoints (`json`) and the
//! recovery of passkey-only accounts (`recovery`). Each parses a request, runs a ceremony or
//! flow of the engine and renders its outcome.

pub(crate) mod html;
pub(crate) mod json;
pub(crate) mod recovery;
