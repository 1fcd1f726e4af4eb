//! The core's [`ActionId`]s. Extension crates export their own next to their
//! controllers.

use super::callbacks::{ActionId, ActionKind};

/// `GET /session/new`: the sign-in page.
pub const SESSION_NEW: ActionId = ActionId::new("session", "new", ActionKind::Show);
/// `POST /session`: sign in with the user id and password.
pub const SESSION_CREATE: ActionId = ActionId::new("session", "create", ActionKind::SignIn);
/// `DELETE /session`: sign out.
pub const SESSION_DELETE: ActionId = ActionId::new("session", "delete", ActionKind::SignOut);
/// `GET /registration/new`: the sign-up page.
pub const REGISTRATION_NEW: ActionId = ActionId::new("registration", "new", ActionKind::Show);
/// `POST /registration`: sign up.
pub const REGISTRATION_CREATE: ActionId =
    ActionId::new("registration", "create", ActionKind::SignUp);
/// `GET /registration/edit`: the account page.
pub const REGISTRATION_EDIT: ActionId = ActionId::new("registration", "edit", ActionKind::Show);
/// `session#confirm`: the password confirmation page of sudo mode.
pub const SESSION_CONFIRM: ActionId = ActionId::new("session", "confirm", ActionKind::Show);
/// `session#confirm_create`: checks the password and makes the session fresh.
pub const SESSION_CONFIRM_CREATE: ActionId =
    ActionId::new("session", "confirm_create", ActionKind::Reauthenticate);
/// `registration#sessions`: the user's list of sessions.
pub const REGISTRATION_SESSIONS: ActionId =
    ActionId::new("registration", "sessions", ActionKind::Show);
/// `registration#end_sessions`: ends one or all other sessions (sudo mode).
pub const REGISTRATION_SESSIONS_END: ActionId =
    ActionId::new("registration", "end_sessions", ActionKind::Other);
/// `registration#activity`: the account's recent activity (audit log).
pub const REGISTRATION_ACTIVITY: ActionId =
    ActionId::new("registration", "activity", ActionKind::Show);
/// `PATCH /registration`: change the account.
pub const REGISTRATION_UPDATE: ActionId =
    ActionId::new("registration", "update", ActionKind::UpdateUser);
/// `DELETE /registration`: delete the account.
pub const REGISTRATION_DELETE: ActionId =
    ActionId::new("registration", "delete", ActionKind::DeleteUser);
