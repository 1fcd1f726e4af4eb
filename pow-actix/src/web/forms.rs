//! Shared builders for the fields and forms of core and extension pages.

use actix_web::HttpRequest;

use super::csrf;
use crate::config::PowConfig;
use crate::messages::LanguageIdentifier;
use crate::users::{Changeset, Params, User};
use crate::views::{Field, FieldType, Form};

/// Builds a form field for `user[name]`, labelled `label-<name>` (or, without that
/// message, the humanised name: `date_of_birth` is "Date of birth") and carrying the
/// changeset's translated errors for it.
pub fn field(
    config: &PowConfig,
    lang: &LanguageIdentifier,
    name: &str,
    kind: FieldType,
    value: Option<&str>,
    changeset: Option<&Changeset>,
) -> Field {
    let errors = changeset
        .map(|cs| {
            cs.errors
                .get(name)
                .iter()
                .map(|e| config.messages().validation_error(lang, name, e))
                .collect()
        })
        .unwrap_or_default();
    let autocomplete = match (name, kind) {
        ("current_password", _) => Some("current-password"),
        (_, FieldType::Password) => Some("new-password"),
        ("email", _) => Some("email"),
        ("username", _) => Some("username"),
        _ => None,
    };
    Field {
        name: name.to_owned(),
        label: config.messages().field_label(lang, name),
        kind,
        value: value.unwrap_or_default().to_owned(),
        errors,
        autocomplete,
        required: true,
    }
}

/// An optional field ([`field`] with `required` off).
pub fn optional_field(
    config: &PowConfig,
    lang: &LanguageIdentifier,
    name: &str,
    kind: FieldType,
    value: Option<&str>,
    changeset: Option<&Changeset>,
) -> Field {
    let mut fld = field(config, lang, name, kind, value, changeset);
    fld.required = false;
    fld
}

/// The input type of the user id field: `email` for an email user id, else `text`.
pub fn user_id_kind(config: &PowConfig) -> FieldType {
    if config.user_id_field() == "email" {
        FieldType::Email
    } else {
        FieldType::Text
    }
}

/// The user id field, showing the submitted value, else `user`'s.
pub fn user_id_field(
    config: &PowConfig,
    lang: &LanguageIdentifier,
    params: &Params,
    user: Option<&User>,
    changeset: Option<&Changeset>,
) -> Field {
    let uid = config.user_id_field();
    let value = params
        .get(uid)
        .map(String::as_str)
        .or_else(|| user.and_then(|u| u.get_str(uid)))
        .or_else(|| {
            changeset
                .and_then(|c| c.data.as_ref())
                .and_then(|u| u.get_str(uid))
        });
    field(config, lang, uid, user_id_kind(config), value, changeset)
}

/// Castable app and extension fields other than the user id, as optional text inputs
/// showing the submitted value, else `user`'s.
pub fn extra_fields(
    config: &PowConfig,
    lang: &LanguageIdentifier,
    params: &Params,
    changeset: Option<&Changeset>,
    user: Option<&User>,
) -> Vec<Field> {
    config
        .user_fields()
        .iter()
        .filter(|f| f.castable && f.name != config.user_id_field())
        .map(|f| {
            let value = params
                .get(&f.name)
                .map(String::as_str)
                .or_else(|| user.and_then(|u| u.get_str(&f.name)));
            let kind = if f.name == "email" {
                FieldType::Email
            } else {
                FieldType::Text
            };
            let mut field = optional_field(config, lang, &f.name, kind, value, changeset);
            // Required on sign-up; an account edit may leave a field as it is.
            field.required = f.required && user.is_none();
            field
        })
        .collect()
}

/// The `password` and `password_confirmation` fields, required or not.
pub fn new_password_fields(
    config: &PowConfig,
    lang: &LanguageIdentifier,
    changeset: Option<&Changeset>,
    required: bool,
) -> [Field; 2] {
    ["password", "password_confirmation"].map(|name| {
        let mut fld = field(config, lang, name, FieldType::Password, None, changeset);
        fld.required = required;
        fld
    })
}

/// A POST form with a fresh CSRF token (`method_override` becomes a `_method` field).
pub fn form(
    req: &HttpRequest,
    action: String,
    method_override: Option<&'static str>,
    fields: Vec<Field>,
    submit: String,
) -> Form {
    Form {
        action,
        method: "post",
        method_override,
        fields,
        submit,
        csrf_token: csrf::csrf_token(req),
    }
}
