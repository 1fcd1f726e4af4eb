//! The extension's routes, relative to the mount path (the routes backend may move them),
//! its actions as callbacks see them, and the links it adds to the core's pages.

use pow_core::config::extension_path;
use pow_core::messages::LanguageIdentifier;
use pow_core::views::{Link, PageBody};
use pow_core::PowConfig;

use crate::NAME;

/// The passkeys page (list, add, rename, delete), relative to the mount path.
pub(crate) const MANAGE_PATH: &str = "/passkeys";
/// Prove a passkey or security key again, for a step-up rule.
pub(crate) const STEP_UP_PATH: &str = "/passkeys/step-up";
/// Enrol a security key (a second factor only).
pub(crate) const SECURITY_KEY_PATH: &str = "/passkeys/security-key";
/// Rename one passkey.
pub(crate) const RENAME_PATH: &str = "/passkeys/{id}/rename";
/// Delete one passkey.
pub(crate) const DELETE_PATH: &str = "/passkeys/{id}/delete";
/// The passkey sign-in page.
pub(crate) const SIGN_IN_PATH: &str = "/passkeys/sign-in";
/// The passkey controllers' actions, as extension callbacks see them.
pub mod actions {
    use pow_core::pipeline::{ActionId, ActionKind};

    /// `GET /passkeys`: the list, and a started enrolment (sudo mode).
    pub const MANAGE: ActionId = ActionId::new("passkeys", "index", ActionKind::Show);
    /// `POST /passkeys`: finish an enrolment (sudo mode).
    pub const CREATE: ActionId = ActionId::new("passkeys", "create", ActionKind::Other);
    /// `POST /passkeys/{id}/rename`.
    pub const RENAME: ActionId = ActionId::new("passkeys", "update", ActionKind::Other);
    /// `POST /passkeys/{id}/delete` (sudo mode).
    pub const DELETE: ActionId = ActionId::new("passkeys", "delete", ActionKind::Other);
    /// `GET /passkeys/sign-in`: the page, with a started ceremony.
    pub const SIGN_IN_NEW: ActionId = ActionId::new("passkeys_session", "new", ActionKind::Show);
    /// `POST /passkeys/sign-in`: sign in with the browser's assertion.
    pub const SIGN_IN: ActionId = ActionId::new("passkeys_session", "create", ActionKind::SignIn);
    /// `GET /passkeys/step-up`: a started ceremony for a step-up rule.
    pub const STEP_UP_NEW: ActionId = ActionId::new("passkeys_step_up", "new", ActionKind::Show);
    /// `POST /passkeys/step-up`: records the passkey or security key on the session.
    pub const STEP_UP: ActionId = ActionId::new("passkeys_step_up", "create", ActionKind::Other);
    /// The JSON endpoints of enrolment, listing and changes.
    pub const API_MANAGE: ActionId = ActionId::new("api_passkeys", "manage", ActionKind::Other);
    /// The JSON endpoints of sign-in.
    pub const API_SIGN_IN: ActionId =
        ActionId::new("api_passkeys_session", "create", ActionKind::Other);
}

/// The step-up page, for [`ExtensionBuilder::step_up_page`](pow_core::extension::ExtensionBuilder::step_up_page).
pub(crate) fn step_up_path(config: &PowConfig) -> String {
    path(config, STEP_UP_PATH, &[])
}

pub(crate) fn path(config: &PowConfig, pattern: &str, params: &[(&str, &str)]) -> String {
    extension_path(config, NAME, pattern, params)
}

/// The passkeys link on the account page, and the passkey sign-in link on the sign-in page.
pub(crate) fn page_links(
    page: pow_core::views::PageId,
    body: &mut PageBody,
    lang: &LanguageIdentifier,
    config: &PowConfig,
) {
    let (target, key) = match page.as_str() {
        "registration/edit" => (MANAGE_PATH, "pow_passkeys_link"),
        "session/new" => (SIGN_IN_PATH, "pow_passkeys_sign_in_link"),
        _ => return,
    };
    if let PageBody::Form { links, .. } = body {
        links.push(Link::new(
            path(config, target, &[]),
            config.messages().text(lang, key),
        ));
    }
}
