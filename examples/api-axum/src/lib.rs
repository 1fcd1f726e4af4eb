//! The pow-rs JSON API example on axum: the actix-web example's
//! ([`example_api`]) settings, config and API options, served by pow-axum, with the same
//! routes, answers and OpenAPI document.
//!
//! `main.rs` only reads the settings and starts the server, so tests build the very same
//! app with [`example_api::build`], [`example_api::api_options`] and [`app`].

use axum::routing::{delete, get};
use axum::Router;
use pow_axum::api::{self, ApiLayer, ApiOptions};
use pow_axum::{CurrentUser, Pow, PowConfig};

/// The example app for `config`, with the JSON endpoints set up by `options` (see
/// [`example_api::api_options`]): every pow-rs route in both transports, and the app's
/// own `GET /api/v1/me`, `DELETE /api/v1/me/sessions` and `GET /api/v1/reports` (an API
/// key's) behind the bearer layer.
pub fn app(config: PowConfig, options: ApiOptions) -> Router {
    let revoking = config.clone();
    let own = Router::new()
        .route(
            "/api/v1/reports",
            get(|key: pow_ext_api_keys::axum::ApiKey| async move {
                if let Err(refused) = key.scope(example_api::REPORTS_READ) {
                    return refused;
                }
                let user = &key.key.user;
                api::answer(
                    200,
                    serde_json::json!({ "id": user.id, "email": user.email() }),
                )
            }),
        )
        .route(
            "/api/v1/me",
            get(|CurrentUser(user): CurrentUser| async move {
                api::answer(
                    200,
                    serde_json::json!({ "id": user.id, "email": user.email() }),
                )
            }),
        )
        .route(
            "/api/v1/me/sessions",
            delete(move |CurrentUser(user): CurrentUser, pow: Pow| {
                let config = revoking.clone();
                async move {
                    // Every browser session and API token of the user, this one's included.
                    match pow_axum::session::revoke_user(&config, &user).await {
                        Ok(_) => api::answer(200, serde_json::json!({})),
                        Err(err) => {
                            let lang = api::language(Some(&config), &pow.facts);
                            let err = api::ApiError::from(err).localized(Some(&config), &lang);
                            pow_axum::api_response(&err)
                        }
                    }
                }
            }),
        )
        // Bearer tokens only, no cookies (so no CSRF tokens are needed).
        .layer(ApiLayer::new(config.clone()));
    api::router(&config, options).merge(own)
}
