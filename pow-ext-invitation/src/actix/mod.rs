//! The actix side: the invitation pages (`html`) and JSON endpoints (`json`), each parsing a
//! request, running a flow of [`crate::flows`] and rendering its outcome.

pub(crate) mod html;
pub(crate) mod json;
