//! The pages on the engine: off to a provider to sign in or to link an account, the
//! provider's callback, the linked accounts page and unlinking, with their page routes,
//! which every framework layer mounts from the engine's table.
//!
//! The callback is one route whose action is known only once the provider's answer is
//! read: it runs as [`actions::SIGN_IN`], [`actions::SIGN_UP`], [`actions::LINKED`] or
//! [`actions::FAILED`] from there on (the step's id, which the `before_respond` callbacks
//! and the audit see), with that action's access rule and, for a sign-up, the sign-up rate
//! limit.

use std::sync::Arc;

use pow_core::config::RouteContext;
use pow_core::error::PowError;
use pow_core::extension::StagedSignUp;
use pow_core::messages::MessageArg;
use pow_core::pages::routes::{PageRoute, PathParams, QueryParams, Verb};
use pow_core::pages::{form, Answer, Page};
use pow_core::pipeline::{ActionId, Client, FlashKind, Requirements, Step};
use pow_core::request::RequestSource;
use pow_core::token::secure_compare;
use pow_core::users::validation::normalize_user_id;
use pow_core::users::{Changeset, ChangesetAction, Params, ValidationError};
use pow_core::views::{Field, FieldType, Link, PageBody, PageId};
use pow_core::PowConfig;

use crate::flow::{
    self, actions, check_sign_up, create_linked_user, create_unlinked_user, identities,
    sign_up_params, Attempt, Begin, SignUpCheck,
};
use crate::identities::{Identity, Insert};
use crate::provider::{Profile, Provider};
use crate::{OAuth, OAuthError, IDENTITIES_PATH, NAME};

/// Off to the provider to sign in, relative to the mount path.
const NEW_PATH: &str = "/auth/{provider}/new";
/// Off to the provider to link an account, relative to the mount path.
const LINK_PATH: &str = "/auth/{provider}/link";
/// The provider's answer, relative to the mount path.
pub(crate) const CALLBACK_PATH: &str = "/auth/{provider}/callback";
/// Unlinking a provider account, relative to the mount path.
const UNLINK_PATH: &str = "/auth/{provider}/unlink";

/// The linked accounts page.
pub(crate) const INDEX_PAGE: PageId = PageId::new("oauth/index");
/// The page answering a provider the setup does not offer (`404`).
pub(crate) const NOT_FOUND_PAGE: PageId = PageId::new("oauth/not_found");

/// The message key of a sign-up refused because the address has an account.
const TAKEN: &str = "pow_oauth_email_taken";

/// Sign-ins a browser may have under way at once (tabs); the oldest goes first.
const MAX_PENDING_STATES: usize = 3;

/// The extension's page routes: off to a provider to sign in (signed-out visitors) or to
/// link an account (sudo mode), the provider's callback (its access rule depends on what
/// the sign-in was begun for), the linked accounts page and unlinking (sudo mode). None
/// without providers: every path is then unknown.
pub(crate) fn page_routes(ext: &OAuth) -> Vec<PageRoute> {
    if ext.providers.is_empty() {
        return Vec::new();
    }
    let ext = Arc::new(ext.clone());
    let routes = [
        PageRoute::new(
            Verb::Get,
            IDENTITIES_PATH,
            actions::INDEX,
            pow_core::page_act!(ext, index),
        )
        .signed_in(),
        // Begins a sign-in (it stores the attempt): not a route that only shows a page.
        PageRoute::new(
            Verb::Get,
            NEW_PATH,
            actions::NEW,
            pow_core::page_act!(ext, start_sign_in),
        )
        .signed_out(),
        PageRoute::new(
            Verb::Post,
            LINK_PATH,
            actions::LINK,
            pow_core::page_act!(ext, start_link),
        )
        .sudo(),
        PageRoute::new(
            Verb::Get,
            CALLBACK_PATH,
            actions::CALLBACK,
            pow_core::page_act!(ext, callback),
        ),
        PageRoute::new(
            Verb::Post,
            UNLINK_PATH,
            actions::UNLINK,
            pow_core::page_act!(ext, unlink),
        )
        .sudo(),
    ];
    routes
        .into_iter()
        .map(|route| route.of_extension(NAME))
        .collect()
}

impl OAuth {
    /// The provider with id `id`.
    pub(crate) fn find(&self, id: &str) -> Option<&Provider> {
        self.providers.iter().find(|p| p.id == id)
    }

    /// The staged sign-up unverified addresses go through: when this extension asks for
    /// one ([`staged_sign_up`](Self::staged_sign_up)) and the setup offers it (which
    /// `build()` checks).
    pub(crate) fn staged(&self, config: &PowConfig) -> Option<Arc<dyn StagedSignUp>> {
        config
            .extensions()
            .staged_sign_up()
            .filter(|_| self.staged_sign_up)
            .cloned()
    }
}

/// `pattern` with the provider `provider`, where the routes backend puts it.
pub(crate) fn path(config: &PowConfig, pattern: &str, provider: &str) -> String {
    pow_core::config::extension_path(config, NAME, pattern, &[("provider", provider)])
}

/// The cookie-session key holding the states this browser began sign-ins with.
fn state_key(config: &PowConfig) -> String {
    config.namespaced("pow_oauth_state")
}

/// The states this browser began sign-ins with, oldest first.
fn held_states(client: &dyn Client, config: &PowConfig) -> Vec<String> {
    client
        .value(&state_key(config))
        .and_then(|held| serde_json::from_str(&held).ok())
        .unwrap_or_default()
}

/// Keeps `held` as the states this browser began sign-ins with.
fn keep_states(
    client: &mut dyn Client,
    config: &PowConfig,
    held: &[String],
) -> Result<(), PowError> {
    let key = state_key(config);
    if held.is_empty() {
        client.remove_value(&key);
        return Ok(());
    }
    let held = serde_json::to_string(held).map_err(|err| PowError::Other(err.to_string()))?;
    client.set_value(&key, &held)
}

/// Message `key` with the provider's name.
fn message(step: &Step, key: &str, provider: &Provider) -> Option<String> {
    step.config.messages().message(
        &step.lang,
        key,
        &[("provider", MessageArg::from(provider.name()))],
    )
}

/// The sign-in page.
fn sign_in_path(step: &Step) -> String {
    step.config.routes().session_path(&step.routes_ctx(), "new")
}

/// The linked accounts page.
fn identities_path(config: &PowConfig) -> String {
    pow_core::config::extension_path(config, NAME, IDENTITIES_PATH, &[])
}

/// The callback URL the provider sends the browser back to (registered with the provider).
fn callback_url(config: &PowConfig, source: &dyn RequestSource, provider: &str) -> String {
    let path = path(config, CALLBACK_PATH, provider);
    match config.base_url() {
        Some(base) => format!("{}{path}", base.trim_end_matches('/')),
        None => format!("{}{path}", source.facts().origin.unwrap_or_default()),
    }
}

/// The provider the `{provider}` segment of the request's path names.
fn provider_of(step: &Step, ext: &OAuth) -> Option<Provider> {
    let id = step
        .assigns
        .get::<PathParams>()
        .and_then(|params| params.get("provider"))?;
    ext.find(id).cloned()
}

/// The answer to a provider the setup does not offer: `404`.
fn not_found() -> Answer {
    Answer::render(|step, _| {
        let body = PageBody::Text {
            paragraphs: vec![step.text("pow_oauth_unknown_provider")],
            links: Vec::new(),
        };
        Ok(Page::new(NOT_FOUND_PAGE, "pow_oauth_title_unknown_provider", body).with_status(404))
    })
}

/// Sends the browser to the provider, binding the sign-in to it: its cookie session holds
/// the `state` the provider must send back. Back to `back` with an error when the provider
/// cannot be reached.
async fn begin(
    step: &Step,
    client: &mut dyn Client,
    ext: &OAuth,
    provider: &Provider,
    link_user: Option<i64>,
    back: String,
) -> Result<Answer, PowError> {
    let facts = client.facts();
    let target = Begin {
        redirect_uri: callback_url(&step.config, &facts, provider.id()),
        link_user,
        request_path: step.request_path.clone(),
        api: false,
    };
    let Some(opened) = flow::open(&step.config, ext, provider, target).await? else {
        client.flash(
            FlashKind::Error,
            message(step, "pow_oauth_provider_unavailable", provider),
        );
        return Ok(Answer::Redirect(back));
    };
    let mut held = held_states(client, &step.config);
    held.push(opened.state);
    let excess = held.len().saturating_sub(MAX_PENDING_STATES);
    held.drain(..excess);
    keep_states(client, &step.config, &held)?;
    // The provider's consent page: an absolute URL, put in `Location` as it is.
    Ok(Answer::Redirect(opened.url))
}

/// `oauth#new`: off to the provider to sign in or sign up.
///
/// # Errors
/// The store's error.
async fn start_sign_in(
    step: &mut Step,
    client: &mut dyn Client,
    ext: &OAuth,
) -> Result<Answer, PowError> {
    let Some(provider) = provider_of(step, ext) else {
        return Ok(not_found());
    };
    let back = sign_in_path(step);
    begin(step, client, ext, &provider, None, back).await
}

/// `oauth#link`: off to the provider to link an account to the signed-in user.
///
/// # Errors
/// The store's error.
async fn start_link(
    step: &mut Step,
    client: &mut dyn Client,
    ext: &OAuth,
) -> Result<Answer, PowError> {
    let Some(provider) = provider_of(step, ext) else {
        return Ok(not_found());
    };
    let user_id = step.signed_in()?.id;
    let back = identities_path(&step.config);
    begin(step, client, ext, &provider, Some(user_id), back).await
}

/// Why a callback ends without signing anyone in.
enum Refusal {
    /// Forged, replayed or expired `state`, or another browser's.
    State,
    /// The user said no at the provider.
    Denied,
    /// The provider could not be reached or refused the code.
    Provider,
    /// The ID token failed its checks.
    Token,
}

/// The callback goes on as action `id` (what the `before_respond` callbacks and the audit
/// see).
fn run_as(step: &mut Step, id: ActionId) {
    step.id = id;
}

/// `oauth#failed`: the sign-in ends with the error of `refusal`, back on the linked
/// accounts page (`back_to_account`, for a signed-in user) or the sign-in page.
fn refuse(
    step: &mut Step,
    client: &mut dyn Client,
    provider: &Provider,
    refusal: Refusal,
    back_to_account: bool,
) -> Answer {
    run_as(step, actions::FAILED);
    let key = match refusal {
        Refusal::State => "pow_oauth_invalid_state",
        Refusal::Denied => "pow_oauth_denied",
        Refusal::Provider => "pow_oauth_provider_unavailable",
        Refusal::Token => "pow_oauth_invalid_token",
    };
    client.flash(FlashKind::Error, message(step, key, provider));
    let back = if back_to_account && step.current_user.is_some() {
        identities_path(&step.config)
    } else {
        sign_in_path(step)
    };
    Answer::Redirect(back)
}

/// `oauth#failed` with an error the user can act on, on the sign-in page.
fn failed(step: &mut Step, client: &mut dyn Client, provider: &Provider, key: &str) -> Answer {
    run_as(step, actions::FAILED);
    client.flash(FlashKind::Error, message(step, key, provider));
    Answer::Redirect(sign_in_path(step))
}

/// Takes the sign-in the browser began, if `state` is the one its cookie session holds.
async fn take_attempt(
    client: &mut dyn Client,
    config: &PowConfig,
    provider: &Provider,
    state: Option<&str>,
) -> Result<Option<Attempt>, PowError> {
    let Some(state) = state else {
        return Ok(None);
    };
    let mut held = held_states(client, config);
    let Some(at) = held
        .iter()
        .position(|h| secure_compare(h.as_bytes(), state.as_bytes()))
    else {
        return Ok(None);
    };
    held.remove(at);
    keep_states(client, config, &held)?;
    flow::take_attempt(config, state, provider, false).await
}

/// `oauth#callback`: the provider's answer (a code and the state, or an error). Signs in
/// the user of a linked provider account, signs up a new one, or links the account to the
/// signed-in user who began the link.
///
/// # Errors
/// The store's, users context's or mailer's error; [`PowError::RateLimited`] over the
/// sign-up limit.
async fn callback(
    step: &mut Step,
    client: &mut dyn Client,
    ext: &OAuth,
) -> Result<Answer, PowError> {
    let Some(provider) = provider_of(step, ext) else {
        return Ok(not_found());
    };
    let query = step
        .assigns
        .get::<QueryParams>()
        .cloned()
        .unwrap_or_default();
    let config = step.config.clone();
    let Some(attempt) = take_attempt(client, &config, &provider, query.get("state")).await? else {
        return Ok(refuse(step, client, &provider, Refusal::State, true));
    };
    let linking = attempt.link_user.is_some();
    if query.get("error").is_some() {
        return Ok(refuse(step, client, &provider, Refusal::Denied, linking));
    }
    let Some(code) = query.get("code") else {
        return Ok(refuse(step, client, &provider, Refusal::Provider, linking));
    };
    let finished = flow::finish(&config, ext, &provider, &attempt, code.to_owned()).await?;
    let (profile, identity) = match finished {
        Ok(found) => found,
        Err(err) => {
            let refusal = match err {
                OAuthError::InvalidIdToken(_) => Refusal::Token,
                _ => Refusal::Provider,
            };
            return Ok(refuse(step, client, &provider, refusal, linking));
        }
    };
    match attempt.link_user {
        Some(user_id) => link(step, client, &provider, user_id, &profile, identity).await,
        None => match identity {
            Some(identity) => sign_in(step, client, &provider, identity, attempt).await,
            None => sign_up(step, client, ext, &provider, &profile, attempt).await,
        },
    }
}

/// The answer to a signed-in user at an action for visitors (a sign-in or a sign-up), as
/// the frameworks answer it: the setup's flash text and the routes' page for them.
fn already_signed_in(step: &Step, client: &mut dyn Client) -> Answer {
    let config = &step.config;
    client.flash(
        FlashKind::Error,
        config.messages().user_already_authenticated(&step.lang),
    );
    Answer::Stop(
        config
            .routes()
            .user_already_authenticated_path(&step.routes_ctx()),
    )
}

/// The answer to a visitor at an action for signed-in users (a link whose session ended
/// meanwhile), as the frameworks answer it: the setup's flash text and the sign-in page,
/// which returns here.
fn not_signed_in(step: &Step, client: &mut dyn Client) -> Answer {
    let config = &step.config;
    client.flash(
        FlashKind::Error,
        config.messages().user_not_authenticated(&step.lang),
    );
    let ctx = RouteContext {
        request_path: None,
        ..step.routes_ctx()
    };
    Answer::Stop(config.routes().user_not_authenticated_path(&ctx))
}

/// Records audit event `name` of `user_id` through `provider`.
pub(crate) fn audit(
    step: &Step,
    source: &dyn RequestSource,
    name: pow_core::audit::EventName,
    user_id: i64,
    provider: &Provider,
) {
    pow_core::audit::record(
        &step.config,
        pow_core::audit::AuditEvent::new(name)
            .request(&step.config, source)
            .user(user_id)
            .detail("provider", provider.id()),
    );
}

/// `oauth#sign_in`: a linked provider account signs its user in (for signed-out visitors).
async fn sign_in(
    step: &mut Step,
    client: &mut dyn Client,
    provider: &Provider,
    identity: Identity,
    attempt: Attempt,
) -> Result<Answer, PowError> {
    if step.current_user.is_some() {
        return Ok(already_signed_in(step, client));
    }
    run_as(step, actions::SIGN_IN);
    step.request_path = attempt.request_path;
    let user = flow::linked_user(&step.config, &identity).await?;
    let Some(user) = user else {
        client.flash(
            FlashKind::Error,
            message(step, "pow_oauth_invalid_state", provider),
        );
        return Ok(Answer::Redirect(sign_in_path(step)));
    };
    // A disabled user is refused by the sign-in itself.
    let facts = client.facts();
    let event = crate::events::SIGNED_IN;
    flow::sign_in(
        &step.config,
        &facts,
        &user,
        provider,
        event,
        client.session(),
    )
    .await?;
    client.flash(
        FlashKind::Info,
        step.config.messages().signed_in(&step.lang),
    );
    step.user = Some(user);
    Ok(Answer::Redirect(
        step.config.routes().after_sign_in_path(&step.routes_ctx()),
    ))
}

/// The callback goes on as the sign-up of `params` (for signed-out visitors): the access
/// rule, then the sign-up rate limit, as a sign-up action's. `Err` holds the answer to a
/// signed-in user.
async fn enter_sign_up(
    step: &mut Step,
    client: &mut dyn Client,
    params: Params,
    attempt: &Attempt,
) -> Result<Result<pow_core::limits::Admission, Answer>, PowError> {
    if step.current_user.is_some() {
        return Ok(Err(already_signed_in(step, client)));
    }
    run_as(step, actions::SIGN_UP);
    step.params = params;
    step.request_path = attempt.request_path.clone();
    let facts = client.facts();
    let admission = pow_core::pipeline::admit(step, &facts, &Requirements::default(), None).await?;
    Ok(Ok(admission))
}

/// A provider account nobody linked: a new user from the profile (see [`check_sign_up`]).
async fn sign_up(
    step: &mut Step,
    client: &mut dyn Client,
    ext: &OAuth,
    provider: &Provider,
    profile: &Profile,
    attempt: Attempt,
) -> Result<Answer, PowError> {
    let config = step.config.clone();
    let staged = ext.staged(&config);
    let email = match check_sign_up(&config, profile, staged.is_some()).await? {
        SignUpCheck::Create(email) => email,
        SignUpCheck::Refuse(key)
            if key == TAKEN && !profile.email_verified && config.prevent_user_enumeration() =>
        {
            return taken_unverified(step, client, ext, provider, profile, attempt).await;
        }
        SignUpCheck::Refuse(key) => return Ok(failed(step, client, provider, key)),
        SignUpCheck::Staged(email) => {
            let staged = staged.ok_or_else(|| PowError::Config("no staged sign-up".into()))?;
            return staged_sign_up(step, client, provider, profile, &email, &*staged).await;
        }
    };
    let params = sign_up_params(&email, profile);
    let _admission = match enter_sign_up(step, client, params.clone(), &attempt).await? {
        Ok(admission) => admission,
        Err(answer) => return Ok(answer),
    };
    // An address the provider vouches for is linked at once. Another is linked only once
    // its owner proves it in this browser (the confirmation link, opened here): until then
    // the provider account reaches nobody's account, so a stranger's sign-up cannot take
    // over the address's owner.
    let created = if profile.email_verified {
        create_linked_user(&config, provider, profile, params).await?
    } else {
        create_unlinked_user(&config, params).await?
    };
    let user = match created {
        Ok(user) => user,
        Err(key) => {
            client.flash(FlashKind::Error, message(step, key, provider));
            return Ok(Answer::Redirect(sign_in_path(step)));
        }
    };
    if !profile.email_verified {
        let pending = crate::pending::Pending {
            provider: provider.id().to_owned(),
            uid: profile.uid.clone(),
            email: email.clone(),
            user_id: Some(user.id),
        };
        crate::pending::put(
            client,
            &config,
            crate::pending::Slot::Confirmation,
            &pending,
        )
        .await?;
    }
    let facts = client.facts();
    let event = crate::events::REGISTERED;
    flow::sign_in(&config, &facts, &user, provider, event, client.session()).await?;
    step.user = Some(user);
    Ok(Answer::Redirect(
        config.routes().after_registration_path(&step.routes_ctx()),
    ))
}

/// A provider that does not vouch for the address names one that has an account. With
/// user enumeration protection on, the answer is that of a new address: the staged
/// sign-up's "we have sent a link", or the sign-up callbacks' answer to a taken address
/// (e-mail confirmation answers it as it answers a new one). Nothing is linked or mailed.
async fn taken_unverified(
    step: &mut Step,
    client: &mut dyn Client,
    ext: &OAuth,
    provider: &Provider,
    profile: &Profile,
    attempt: Attempt,
) -> Result<Answer, PowError> {
    let config = step.config.clone();
    if ext.staged(&config).is_some() {
        run_as(step, actions::FAILED);
        client.flash(
            FlashKind::Info,
            message(step, "pow_oauth_staged_sent", provider),
        );
        return Ok(Answer::Redirect(sign_in_path(step)));
    }
    if config.extensions().address_proof().is_none() {
        // Nothing could prove a new address either: it is refused as unverified.
        return Ok(failed(step, client, provider, "pow_oauth_email_unverified"));
    }
    let email = profile
        .email
        .as_deref()
        .map(normalize_user_id)
        .unwrap_or_default();
    let params = sign_up_params(&email, profile);
    let _admission = match enter_sign_up(step, client, params.clone(), &attempt).await? {
        Ok(admission) => admission,
        Err(answer) => return Ok(answer),
    };
    let mut cs = Changeset::new(ChangesetAction::Create, None, params);
    cs.add_error("email", ValidationError::new("taken"));
    step.changeset = Some(cs);
    // The sign-up callbacks answer it (e-mail confirmation does); without one, the sign-in
    // page. (No flash then: the engine's answers cannot queue one only when no callback
    // answered, and one queued now would show beside the callbacks' answer.)
    Ok(Answer::Redirect(sign_in_path(step)))
}

/// An address the provider did not verify, with staged sign-up available: the address
/// gets a link that proves it and opens the sign-up form prefilled from the profile; the
/// provider account is linked when that form creates the user.
async fn staged_sign_up(
    step: &mut Step,
    client: &mut dyn Client,
    provider: &Provider,
    profile: &Profile,
    email: &str,
    staged: &dyn StagedSignUp,
) -> Result<Answer, PowError> {
    let config = step.config.clone();
    let mut prefill = Params::new();
    if let Some(name) = &profile.name {
        prefill.insert("name".to_owned(), name.clone());
    }
    let pending = crate::pending::Pending {
        provider: provider.id().to_owned(),
        uid: profile.uid.clone(),
        email: email.to_owned(),
        user_id: None,
    };
    crate::pending::put(client, &config, crate::pending::Slot::Staged, &pending).await?;
    let facts = client.facts();
    staged.start(&config, &facts, email, prefill).await?;
    run_as(step, actions::FAILED);
    client.flash(
        FlashKind::Info,
        message(step, "pow_oauth_staged_sent", provider),
    );
    Ok(Answer::Redirect(sign_in_path(step)))
}

/// `oauth#linked`: the signed-in user linking a provider account.
async fn link(
    step: &mut Step,
    client: &mut dyn Client,
    provider: &Provider,
    user_id: i64,
    profile: &Profile,
    identity: Option<Identity>,
) -> Result<Answer, PowError> {
    let Some(user) = step.current_user.clone() else {
        return Ok(not_signed_in(step, client));
    };
    run_as(step, actions::LINKED);
    let back = identities_path(&step.config);
    if user.id != user_id {
        // Began by another user in this browser: nothing to link.
        client.flash(
            FlashKind::Error,
            message(step, "pow_oauth_invalid_state", provider),
        );
        return Ok(Answer::Redirect(back));
    }
    let unproven = step
        .config
        .extensions()
        .address_proof()
        .is_some_and(|proof| !proof.is_proven(&user));
    if unproven {
        // Links wait for a proven address: whoever signed up with someone else's address
        // (soft mode lets them in) must not keep a way into the account.
        client.flash(
            FlashKind::Error,
            message(step, "pow_oauth_link_unconfirmed", provider),
        );
        return Ok(Answer::Redirect(back));
    }
    let key = match identity {
        Some(identity) if identity.user_id == user.id => "pow_oauth_already_linked",
        Some(_) => "pow_oauth_linked_elsewhere",
        None => {
            let inserted = identities(&step.config)?
                .insert(
                    provider.id(),
                    &profile.uid,
                    user_id,
                    profile.email.as_deref(),
                )
                .await?;
            match inserted {
                Insert::Linked => {
                    let facts = client.facts();
                    audit(step, &facts, crate::events::LINKED, user.id, provider);
                    crate::mail::notify(step, &facts, &user, provider, true).await;
                    "pow_oauth_linked"
                }
                Insert::Taken => "pow_oauth_linked_elsewhere",
            }
        }
    };
    let kind = match key {
        "pow_oauth_linked" | "pow_oauth_already_linked" => FlashKind::Info,
        _ => FlashKind::Error,
    };
    client.flash(kind, message(step, key, provider));
    step.user = Some(user);
    Ok(Answer::Redirect(back))
}

/// `oauth#index`: the linked accounts page, each with an unlink button, each provider with
/// a link button.
///
/// # Errors
/// The users database's error.
async fn index(step: &mut Step, _client: &mut dyn Client, ext: &OAuth) -> Result<Answer, PowError> {
    let user_id = step.signed_in()?.id;
    let linked = identities(&step.config)?.for_user(user_id).await?;
    let providers = ext.providers.clone();
    Ok(Answer::render(move |step, cookie| {
        let config = &step.config;
        let mut forms = Vec::new();
        for identity in &linked {
            let Some(provider) = providers.iter().find(|p| p.id == identity.provider) else {
                continue;
            };
            let label = config.messages().message(
                &step.lang,
                "pow_oauth_button_unlink",
                &[
                    ("provider", MessageArg::from(provider.name())),
                    (
                        "account",
                        MessageArg::from(identity.email.as_deref().unwrap_or(&identity.uid)),
                    ),
                ],
            );
            let uid = Field::new("uid", "", FieldType::Hidden).value(identity.uid.clone());
            forms.push(form(
                cookie,
                path(config, UNLINK_PATH, provider.id()),
                None,
                vec![uid],
                label.unwrap_or_default(),
            ));
        }
        for provider in &providers {
            let label = message(step, "pow_oauth_button_link", provider);
            forms.push(form(
                cookie,
                path(config, LINK_PATH, provider.id()),
                None,
                Vec::new(),
                label.unwrap_or_default(),
            ));
        }
        let mut forms = forms.into_iter();
        // The routes exist only with providers, each with its link form.
        let form = forms
            .next()
            .ok_or_else(|| PowError::Config("the linked accounts page needs a provider".into()))?;
        let body = PageBody::Form {
            form,
            links: vec![Link::new(
                config
                    .routes()
                    .registration_path(&step.routes_ctx(), "edit"),
                step.text("pow_oauth_link_account"),
            )],
            extra_forms: forms.collect(),
        };
        let mut page = Page::new(INDEX_PAGE, "pow_oauth_title_identities", body);
        page.info = if linked.is_empty() {
            step.message("pow_oauth_none_linked")
        } else {
            None
        };
        Ok(page)
    }))
}

/// `oauth#unlink`: unlinks a provider account. The last way to sign in stays: without a
/// password (and without passwordless sign-in) the only linked account cannot go.
///
/// # Errors
/// The users database's error.
async fn unlink(step: &mut Step, client: &mut dyn Client, ext: &OAuth) -> Result<Answer, PowError> {
    let Some(provider) = provider_of(step, ext) else {
        return Ok(not_found());
    };
    let user = step.signed_in()?.clone();
    let uid = step.params.get("uid").cloned().unwrap_or_default();
    let back = identities_path(&step.config);
    let identities = identities(&step.config)?;
    let all = identities.for_user(user.id).await?;
    let other_ways = user.password_hash.is_some()
        || step
            .config
            .extensions()
            .credential_kinds()
            .any(|kind| kind != crate::CREDENTIAL_KIND)
        || all
            .iter()
            .any(|i| !(i.provider == provider.id() && i.uid == uid));
    if !other_ways {
        client.flash(
            FlashKind::Error,
            message(step, "pow_oauth_last_method", &provider),
        );
        return Ok(Answer::Redirect(back));
    }
    let deleted = identities.delete(provider.id(), &uid, user.id).await?;
    if deleted {
        let facts = client.facts();
        audit(step, &facts, crate::events::UNLINKED, user.id, &provider);
        crate::mail::notify(step, &facts, &user, &provider, false).await;
        client.flash(
            FlashKind::Info,
            message(step, "pow_oauth_unlinked", &provider),
        );
    }
    step.user = Some(user);
    Ok(Answer::Redirect(back))
}
