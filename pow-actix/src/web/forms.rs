//! Shared builders for the fields and forms of core and extension pages.

use actix_web::HttpRequest;

use crate::session::CookieSessionExt as _;
use crate::views::{Field, Form};

pub use pow_core::pages::{
    extra_fields, field, new_password_fields, optional_field, user_id_field, user_id_kind,
};

/// A POST form with a fresh CSRF token (`method_override` becomes a `_method` field).
pub fn form(
    req: &HttpRequest,
    action: String,
    method_override: Option<&'static str>,
    fields: Vec<Field>,
    submit: String,
) -> Form {
    pow_core::pages::form(
        &req.cookie_session(),
        action,
        method_override,
        fields,
        submit,
    )
}
