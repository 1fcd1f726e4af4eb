//! The actix side of the extension: its JSON endpoints (`json`). Its pages are the
//! engine's page routes (`crate::pages`), which every framework mounts.

pub(crate) mod json;
