//! The events the action pipeline records for every action, once.

use super::{ActionKind, Controller};
use crate::audit::{record, record_with, AuditEvent, EventName};
use crate::limits::{LimitReason, RateLimited, SignInAttempt};
use crate::users::Value;

fn event(ctl: &Controller, name: EventName) -> AuditEvent {
    AuditEvent::new(name)
        .request(&ctl.config, &crate::web::ActixRequest(&ctl.req))
        .detail("action", ctl.id.to_string())
}

/// A request the rate limits refused.
pub(crate) fn refused(ctl: &Controller, limited: &RateLimited) {
    let reason = match limited.reason {
        LimitReason::TooManyAttempts => "rate_limited",
        LimitReason::Locked => "locked",
    };
    let field = ctl.config.user_id_field();
    let typed = ctl
        .params
        .get(field)
        .map(|raw| crate::users::validation::normalize_user_id(raw));
    let name = match (ctl.id.kind(), &typed) {
        (ActionKind::SignIn, Some(_)) => crate::audit::SIGN_IN_FAILED,
        _ => crate::audit::RATE_LIMITED,
    };
    let mut event = event(ctl, name).detail("reason", reason);
    if let Some(identifier) = typed {
        event = event.identifier(&ctl.config, &identifier);
    }
    record(&ctl.config, event);
}

/// What an action that ran came to: sign-ins, sign-ups, account changes, sign-outs.
pub(crate) fn after_action(ctl: &Controller, sign_in: Option<&SignInAttempt>) {
    let config = &ctl.config;
    if let Some(attempt) = sign_in {
        match &ctl.user {
            Some(user) => record(
                config,
                event(ctl, crate::audit::SIGN_IN_SUCCEEDED)
                    .user(user.id)
                    .identifier(config, &attempt.identifier)
                    .detail("method", "password"),
            ),
            None => {
                // Wrong password or unknown user: told apart off the request path, so the
                // answer takes the same time either way.
                let failed = event(ctl, crate::audit::SIGN_IN_FAILED)
                    .identifier(config, &attempt.identifier)
                    .detail("reason", "invalid_credentials");
                let (cfg, identifier) = (config.clone(), attempt.identifier.clone());
                record_with(config, failed, move |event| {
                    let Ok(users) = cfg.users_context() else {
                        return;
                    };
                    let field = cfg.user_id_field();
                    if let Ok(found) = users.get_by(&cfg, field, &Value::Text(identifier)) {
                        let reason = match found {
                            Some(user) => {
                                event.user_id = Some(user.id);
                                "wrong_password"
                            }
                            None => "unknown_user",
                        };
                        if let serde_json::Value::Object(map) = &mut event.detail {
                            map.insert("reason".into(), reason.into());
                        }
                    }
                });
            }
        }
        return;
    }
    let Some(user) = &ctl.user else {
        return;
    };
    match ctl.id.kind() {
        ActionKind::SignUp => record(config, event(ctl, crate::audit::REGISTERED).user(user.id)),
        ActionKind::SignOut => record(config, event(ctl, crate::audit::SIGNED_OUT).user(user.id)),
        ActionKind::DeleteUser => record(
            config,
            event(ctl, crate::audit::ACCOUNT_DELETED).user(user.id),
        ),
        ActionKind::UpdateUser | ActionKind::CompleteSignUp => {
            let password = ctl.params.get("password").is_some_and(|p| !p.is_empty());
            let fields: Vec<&str> = ctl
                .params
                .keys()
                .map(String::as_str)
                .filter(|k| !k.contains("password"))
                .collect();
            record(
                config,
                event(ctl, crate::audit::ACCOUNT_UPDATED)
                    .user(user.id)
                    .detail("password", password)
                    .detail("fields", fields),
            );
            if password {
                record(
                    config,
                    event(ctl, crate::audit::PASSWORD_CHANGED).user(user.id),
                );
            }
        }
        _ => {}
    }
}
