//! The core's [`ActionId`](super::ActionId)s (the engine's,
//! [`pow_core::pages::core`]). Extension crates export their own next to their
//! controllers.

pub use pow_core::pages::core::{
    REGISTRATION_ACTIVITY, REGISTRATION_CREATE, REGISTRATION_DELETE, REGISTRATION_EDIT,
    REGISTRATION_NEW, REGISTRATION_SESSIONS, REGISTRATION_SESSIONS_END, REGISTRATION_UPDATE,
    SESSION_CONFIRM, SESSION_CONFIRM_CREATE, SESSION_CREATE, SESSION_DELETE, SESSION_NEW,
};
