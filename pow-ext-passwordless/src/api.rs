//! The JSON side on the engine: ask for a link or code, and trade either for a token pair;
//! a staged sign-up (the address proven first, then the rest of the form). Its routes are
//! the engine's JSON route table, which every framework layer mounts.

use std::sync::Arc;

use pow_core::api::{json_body, user_params, ApiAction, ApiClient, ApiError, ApiRoute, Reply};
use pow_core::pages::routes::{PathParams, Verb};
use pow_core::pipeline::Step;
use pow_core::users::Params;
use serde::Deserialize;
use serde_json::json;

use crate::actions;
use crate::flows::Grant;
use crate::flows::{self as flow, link_url, staged_proven, Staged, Via};
use crate::Passwordless;

/// The extension's JSON routes, under the API prefix: asking for a link, a code or a
/// staged sign-up (CAPTCHA-checked), using a link or a code, and reading and completing a
/// staged sign-up.
pub(crate) fn api_routes(ext: &Passwordless) -> Vec<ApiRoute> {
    let ext = Arc::new(ext.clone());
    vec![
        ApiRoute::new(
            Verb::Post,
            "/passwordless/link",
            actions::API,
            pow_core::api_act!(ext, ask, Via::Link, false),
        )
        .captcha(),
        ApiRoute::new(
            Verb::Post,
            "/passwordless/link/{token}",
            actions::API,
            pow_core::api_act!(ext, link_use),
        ),
        ApiRoute::new(
            Verb::Post,
            "/passwordless/code",
            actions::API,
            pow_core::api_act!(ext, ask, Via::Code, false),
        )
        .captcha(),
        ApiRoute::new(
            Verb::Post,
            "/passwordless/code/verify",
            actions::API,
            pow_core::api_act!(ext, code_use),
        ),
        ApiRoute::new(
            Verb::Post,
            "/passwordless/sign-up",
            actions::API,
            pow_core::api_act!(ext, ask, Via::Link, true),
        )
        .captcha(),
        ApiRoute::new(
            Verb::Get,
            "/passwordless/sign-up/{token}",
            actions::API,
            pow_core::api_act!(ext, staged_show),
        ),
        ApiRoute::new(
            Verb::Post,
            "/passwordless/sign-up/{token}",
            actions::COMPLETE,
            pow_core::api_act!(ext, staged_complete),
        ),
    ]
}

#[derive(Deserialize)]
struct AskBody {
    email: String,
}

#[derive(Deserialize)]
struct CodeBody {
    code_token: String,
    code: String,
}

/// `401 invalid_token` with the text `key`.
fn invalid(step: &Step, key: &str) -> ApiError {
    ApiError::translated(Some(&step.config), &step.lang, 401, key).with_code("invalid_token")
}

/// The `{token}` segment of the request's path.
fn path_token(step: &Step) -> String {
    step.assigns
        .get::<PathParams>()
        .and_then(|params| params.get("token"))
        .unwrap_or_default()
        .to_owned()
}

/// `POST <prefix>/passwordless/link`, `/passwordless/code` and `/passwordless/sign-up`
/// (`staged`: a staged sign-up's link; an address with an account gets a sign-in link
/// instead): mails a link or a code to the body's address; `202` alike for every address,
/// the code answer with its `code_token`.
async fn ask(
    step: &mut Step,
    call: &mut dyn ApiClient,
    ext: &Passwordless,
    via: Via,
    staged: bool,
) -> Result<Reply, ApiError> {
    let config = step.config.clone();
    let body: AskBody = json_body(&config, &step.lang, call.body())?;
    ApiError::check_email(&config, &step.lang, "email", &body.email)?;
    let link = |token: &str, purpose| link_url(&config, token, purpose);
    let staged = staged.then(Params::new);
    let facts = call.facts();
    let code_token = flow::request(
        &facts,
        &config,
        ext,
        &step.lang,
        &body.email,
        via,
        staged,
        link,
    )
    .await?;
    let key = match via {
        Via::Link => "pow_passwordless_link_sent",
        Via::Code => "pow_passwordless_code_sent",
    };
    let mut data = json!({ "message": step.text(key) });
    if let Some(token) = code_token {
        data["code_token"] = json!(token);
    }
    Ok(Reply::data(202, data))
}

/// Signs the client in as the user of `grant` (a pair, after every extension's
/// `before_issue`).
async fn issue(
    step: &Step,
    call: &mut dyn ApiClient,
    grant: Option<Grant>,
    method: &str,
) -> Result<Reply, ApiError> {
    let facts = call.facts();
    let session = call.signing_in(ApiAction::SignIn);
    match flow::finish_sign_in(&step.config, &facts, grant, method, session).await? {
        Some(_) => call.issued(),
        None => Err(invalid(step, "pow_passwordless_invalid")),
    }
}

/// `POST <prefix>/passwordless/link/{token}`: signs in with a mailed link (it works once)
/// and answers a token pair; `401 invalid_token` for a used, expired or unknown link.
async fn link_use(
    step: &mut Step,
    call: &mut dyn ApiClient,
    ext: &Passwordless,
) -> Result<Reply, ApiError> {
    let token = path_token(step);
    let facts = call.facts();
    let session = call.signing_in(ApiAction::SignIn);
    match flow::sign_in_with_link(&step.config, &facts, ext, &token, session).await? {
        Some(_) => call.issued(),
        None => Err(invalid(step, "pow_passwordless_invalid")),
    }
}

/// `POST <prefix>/passwordless/code/verify` with `{"code_token", "code"}`: signs in with a
/// mailed code and answers a token pair; `401 invalid_code` for a wrong one,
/// `401 invalid_token` once the code took its tries.
async fn code_use(
    step: &mut Step,
    call: &mut dyn ApiClient,
    ext: &Passwordless,
) -> Result<Reply, ApiError> {
    let body: CodeBody = json_body(&step.config, &step.lang, call.body())?;
    let facts = call.facts();
    let (grant, exhausted) =
        flow::use_code(&step.config, &facts, ext, &body.code_token, &body.code).await?;
    if exhausted {
        return Err(invalid(step, "pow_passwordless_too_many_attempts"));
    }
    if grant.is_none() {
        return Err(ApiError::translated(
            Some(&step.config),
            &step.lang,
            401,
            "pow_passwordless_invalid_code",
        )
        .with_code("invalid_code"));
    }
    issue(step, call, grant, "email_code").await
}

/// `GET <prefix>/passwordless/sign-up/{token}`: the proven address (and the app's
/// prefill), to show the rest of the form; `401 invalid_token` for a used, expired or
/// unknown link. Uses nothing up.
async fn staged_show(
    step: &mut Step,
    _call: &mut dyn ApiClient,
    ext: &Passwordless,
) -> Result<Reply, ApiError> {
    let token = path_token(step);
    let grant = flow::staged_grant(&step.config, ext, &token).await?;
    let Some(grant) = grant else {
        return Err(invalid(step, "pow_passwordless_invalid"));
    };
    Ok(Reply::ok(
        json!({ "email": grant.email, "user": grant.prefill }),
    ))
}

/// `POST <prefix>/passwordless/sign-up/{token}`: completes a staged sign-up with
/// `{"user": {...}}` (a password is optional): the account is made for the proven address
/// and signed in, as a registration; `422` with field errors (the link keeps working).
async fn staged_complete(
    step: &mut Step,
    call: &mut dyn ApiClient,
    ext: &Passwordless,
) -> Result<Reply, ApiError> {
    // A body without a `user` object completes with the prefill alone.
    let Some(typed) = user_params(call.body()) else {
        return Err(ApiError::invalid_request(Some(&step.config), &step.lang));
    };
    let config = step.config.clone();
    let token = path_token(step);
    let facts = call.facts();
    let (user, with_password) =
        match flow::complete_staged(&facts, &config, ext, &token, typed).await? {
            Staged::Invalid => return Err(invalid(step, "pow_passwordless_invalid")),
            Staged::Refused { changeset, .. } => {
                return Err(ApiError::validation(
                    &config,
                    &step.lang,
                    "api-user-not-created",
                    &changeset,
                ));
            }
            Staged::Created {
                user,
                with_password,
            } => (user, with_password),
        };
    staged_proven(step, &user);
    let session = call.signing_in(ApiAction::Registration);
    flow::sign_in(&config, &user, flow::STAGED_METHOD, with_password, session).await?;
    step.user = Some(user);
    call.issued()
}
