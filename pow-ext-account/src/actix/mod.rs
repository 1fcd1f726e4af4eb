//! The actix side of the extension: parsing requests, running the flows, rendering pages
//! (`html`) and JSON (`json`).

pub(crate) mod html;
pub(crate) mod json;
