//! What a framework layer needs of the engine, in one place: the page runner, the request's
//! head, the browser's session over a response's cookies, the JSON transport's pieces and
//! the action host. pow-actix and pow-axum are built on this module alone (beside the app
//! root they re-export); a layer for another framework would be too.
//!
//! An app names its framework crate (`pow_actix`, `pow_axum`), and an extension names
//! `pow_core` (the extension contract in [`extension`](crate::extension), routes in
//! [`pages::routes`](crate::pages::routes) and [`api::routes`](crate::api::routes), the
//! action's [`pipeline`](crate::pipeline)); neither needs this module. A layer does four
//! things with it: read the request ([`request::RequestHead`], [`page::PageRequest`]), open
//! and write the cookie session ([`session::BrowserSession`] over the layer's
//! [`session::CookieQueue`]), run the action ([`page::run`], or the JSON runner through
//! [`ApiService`](crate::api::ApiService)), and write the answer ([`HttpAnswer`]).
//!
//! ```
//! use pow_core::framework::page::{wants_json, PageRequest};
//!
//! // What a layer reads of a posted form, the runner decides with.
//! let request = PageRequest {
//!     get: false,
//!     head: false,
//!     path_and_query: "/session".into(),
//!     host: "app.example".into(),
//!     referer: Some("https://app.example/session/new".into()),
//!     accept: Some("text/html".into()),
//!     content_type: Some("application/x-www-form-urlencoded".into()),
//!     csrf_header: None,
//!     captcha_header: None,
//! };
//! assert_eq!(request.back().as_deref(), Some("/session/new"));
//! assert!(!wants_json(request.accept.as_deref(), request.content_type.as_deref()));
//! ```

pub use crate::pages::HttpAnswer;

/// The page runner: one page action's run from the request to the answer (access, the
/// form's type and CSRF token, limits, CAPTCHA, the extensions' callbacks, the action, audit,
/// the page or redirect), and every answer the engine decides for a page request.
pub mod page {
    pub use crate::pages::endpoints::too_large;
    pub use crate::pages::mailbox::is_local;
    pub use crate::pages::routes::{answers_head, assign_request, AssetPaths};
    pub use crate::pages::runner::{
        access_answer, answer, api_access_answer, error_answer, error_page_answer, halted,
        page_answer, plain, refusal_answer, run, step_up_answer, wants_json, PageAction, PageEnd,
        PageRequest,
    };
    pub use crate::pages::{error_page, MAX_FORM_BYTES};
    pub use crate::pipeline::run::{ActionHost, FormRefusal};
    pub use crate::pipeline::Format;
}

/// What the engine reads of a request's head: its facts through the setup's trusted
/// proxies, its cookies, and the local paths it may return to.
pub mod request {
    pub use crate::config::{local_path, request_path_param};
    pub use crate::request::head::{
        client_address, host, origin, read_facts, FactHeader, RequestCookies, RequestHead,
    };
}

/// The browser's session of one request over the layer's response cookies: what the layer
/// read, the changes it writes back, and the cookie's codec.
pub mod session {
    pub use crate::session::browser::RecordedDevice;
    pub use crate::session::browser_session::{
        BrowserChanges, BrowserSession, CookieQueue, HoldsBrowserSession,
    };
    pub use crate::session::cookie::{CookieCodec, CookieState, OVERSIZED_COOKIES_TEXT};
}

/// The JSON transport's pieces: one call's input and context, the bearer checks of an app's
/// own routes, the browser transport's origin rule, and the document's paths.
pub mod api {
    pub use crate::api::access::AccessCheck;
    pub use crate::api::call::{run, ApiCall, ApiInput};
    pub use crate::api::openapi::documented_paths;
    pub use crate::api::options::{cross_site, OriginFacts, TrustedOrigins};
    pub use crate::api::routes::{bearer_of, by_path};
    pub use crate::api::MAX_BODY_BYTES;
}
