//! `GET /confirm-email/{token}`: the link in the confirmation mail.

use actix_web::{web, HttpRequest, HttpResponse};
use chrono::Utc;
use pow_core::session::{self, CredentialsCache};
use pow_core::token::secure_compare;
use pow_core::users::{run_blocking, Params, User, Value, WriteError};
use pow_core::web::{flash, redirect, route_config, routes_ctx, Controller};
use pow_core::{PowConfig, PowError};

use crate::schema::{confirm_changes, token_expired, EMAIL_FIELD, TOKEN_FIELD};
use crate::{EmailConfirmation, TOKEN_SALT};

/// What a confirmation attempt came to.
pub(crate) enum Outcome {
    /// Bad signature, unknown or expired token.
    Invalid,
    /// The new address was taken by another account in the meantime.
    Taken,
    /// Confirmed; the user as stored now.
    Confirmed(User),
}

/// Registers the route on `cfg`.
pub(crate) fn configure(cfg: &mut web::ServiceConfig, ext: &EmailConfirmation) {
    cfg.service(
        web::resource("/confirm-email/{token}")
            .app_data(web::Data::new(ext.clone()))
            .route(web::get().to(confirm_email)),
    );
}

/// Confirms the address the token was issued for, signed in or out. Redirects to the
/// account page when someone is signed in, else to sign-in, with a flash saying how it
/// went. A signed-in user who confirmed their own address gets a new session.
async fn confirm_email(
    req: HttpRequest,
    token: web::Path<String>,
    ext: web::Data<EmailConfirmation>,
) -> Result<HttpResponse, PowError> {
    let config = route_config(&req)?;
    let mut ctl = Controller::new(&req, &config, "confirmation", "show", Params::new());
    if let Some(res) = ctl.before_process().await? {
        return Ok(res);
    }
    let signed_in = session::current_user(&req);
    let ctx = routes_ctx(&req, &config, None);
    let target = if signed_in.is_some() {
        config.routes().registration_path(&ctx, "edit")
    } else {
        config.routes().session_path(&ctx, "new")
    };
    let messages = config.messages();
    // The signature is checked before any lookup: a forged token never reaches the database.
    let outcome = match config.verifier().verify_token(TOKEN_SALT, &token) {
        None => Outcome::Invalid,
        Some(token) => {
            let (cfg, ttl) = (config.clone(), ext.token_ttl);
            run_blocking(move || confirm(&cfg, &token, ttl)).await?
        }
    };
    match outcome {
        Outcome::Invalid => flash::put_error(
            &req,
            messages.message(&ctl.lang, "pow_email_confirmation_invalid_token", &[]),
        ),
        Outcome::Taken => flash::put_error(
            &req,
            messages.message(
                &ctl.lang,
                "pow_email_confirmation_email_confirmation_failed",
                &[],
            ),
        ),
        Outcome::Confirmed(user) => {
            if signed_in.as_ref().is_some_and(|u| u.id == user.id) {
                session::sign_in(&req, &user).await?;
            } else {
                refresh_sessions(&config, &user).await?;
            }
            flash::put_info(
                &req,
                messages.message(
                    &ctl.lang,
                    "pow_email_confirmation_email_has_been_confirmed",
                    &[],
                ),
            );
            ctl.user = Some(user);
        }
    }
    if let Some(res) = ctl.before_respond().await? {
        return Ok(res);
    }
    Ok(redirect(&target))
}

/// Looks the token up and confirms its user. Blocking.
pub(crate) fn confirm(
    config: &PowConfig,
    token: &str,
    ttl: Option<std::time::Duration>,
) -> Result<Outcome, PowError> {
    let users = config.users()?;
    let Some(user) = users.get_by(config, TOKEN_FIELD, &Value::from(token))? else {
        return Ok(Outcome::Invalid);
    };
    let stored = user.get_str(TOKEN_FIELD).unwrap_or_default();
    let now = Utc::now();
    if !secure_compare(stored.as_bytes(), token.as_bytes()) || token_expired(&user, ttl, now) {
        return Ok(Outcome::Invalid);
    }
    match users.update_fields(config, &user, &confirm_changes(&user, now)) {
        Ok(user) => Ok(Outcome::Confirmed(user)),
        Err(WriteError::Unique(field)) if field == EMAIL_FIELD => Ok(Outcome::Taken),
        Err(WriteError::Other(err)) => Err(err),
        Err(err) => Err(PowError::Database(err.to_string())),
    }
}

/// Updates the user cached for the user's other sessions, so they see the confirmation.
pub(crate) async fn refresh_sessions(config: &PowConfig, user: &User) -> Result<(), PowError> {
    let credentials = CredentialsCache::new(config);
    if !credentials.sessions(user.id).await?.is_empty() {
        credentials.update_user(user).await?;
    }
    Ok(())
}
