//! The pages: start a sign-in or a link, the provider's callback, the linked accounts.

use actix_web::web::{self, Bytes};
use actix_web::{HttpRequest, HttpResponse};
use pow_actix::messages::MessageArg;
use pow_actix::session::CookieSessionExt as _;
use pow_actix::session::{self, CookieSessionHandle};
use pow_actix::token::secure_compare;
use pow_actix::users::validation::normalize_user_id;
use pow_actix::users::{Changeset, ChangesetAction, Params, ValidationError};
use pow_actix::views::{Field, FieldType, Form, Link, PageBody};
use pow_actix::web::{
    extension_path, flash, redirect, render_page, route_config, Action, ActixClient, ActixRequest,
    Controller, FormData, Format, Outcome, Page,
};
use pow_actix::{PowConfig, PowError};
use serde::Deserialize;

use crate::flow::{
    self, actions, check_sign_up, create_linked_user, create_unlinked_user, identities,
    sign_up_params, Begin, SignUpCheck,
};
use crate::identities::{Identity, Insert};
use crate::provider::{Profile, Provider};
use crate::store::{Attempt, Records, ATTEMPT};
use crate::{OAuth, OAuthApi, OAuthError, IDENTITIES_PATH, NAME};

const NEW_PATH: &str = "/auth/{provider}/new";
const LINK_PATH: &str = "/auth/{provider}/link";
const CALLBACK_PATH: &str = "/auth/{provider}/callback";
const UNLINK_PATH: &str = "/auth/{provider}/unlink";

impl OAuth {
    /// The provider with id `id`.
    pub(crate) fn find(&self, id: &str) -> Option<&Provider> {
        self.providers.iter().find(|p| p.id == id)
    }

    /// The staged sign-up unverified addresses go through: when this extension asks for
    /// one ([`staged_sign_up`](Self::staged_sign_up)) and the setup offers it (which
    /// `build()` checks).
    pub(crate) fn staged(
        &self,
        config: &PowConfig,
    ) -> Option<std::sync::Arc<dyn pow_actix::extension::StagedSignUp>> {
        config
            .extensions()
            .staged_sign_up()
            .filter(|_| self.staged_sign_up)
            .cloned()
    }

    /// The JSON side, to add to [`ApiOptions`](pow_actix::api::ApiOptions) when the config
    /// does not enable the extension itself.
    pub fn api(&self) -> OAuthApi {
        OAuthApi::new(self.clone())
    }
}

pub(crate) fn path(config: &PowConfig, pattern: &str, provider: &str) -> String {
    extension_path(config, NAME, pattern, &[("provider", provider)])
}

pub(crate) fn configure(cfg: &mut web::ServiceConfig, config: &PowConfig, ext: &OAuth) {
    let route = |pattern: &str| config.routes().extension_route(NAME, pattern);
    let data = web::Data::new(ext.clone());
    let resource = |pattern: &str| web::resource(route(pattern)).app_data(data.clone());
    cfg.service(resource(IDENTITIES_PATH).route(web::get().to(index)))
        .service(resource(NEW_PATH).route(web::get().to(start_sign_in)))
        .service(resource(LINK_PATH).route(web::post().to(start_link)))
        .service(resource(CALLBACK_PATH).route(web::get().to(callback)))
        .service(resource(UNLINK_PATH).route(web::post().to(unlink)));
}

fn state_key(config: &PowConfig) -> String {
    config.namespaced("pow_oauth_state")
}

/// Sign-ins a browser may have under way at once (tabs); the oldest goes first.
const MAX_PENDING_STATES: usize = 3;

/// The states this browser began sign-ins with, oldest first.
fn held_states(req: &HttpRequest, config: &PowConfig) -> Vec<String> {
    req.cookie_session()
        .get::<Vec<String>>(&state_key(config))
        .ok()
        .flatten()
        .unwrap_or_default()
}

fn message(ctl: &Controller, key: &str, provider: &Provider) -> Option<String> {
    ctl.config.messages().message(
        &ctl.lang,
        key,
        &[("provider", MessageArg::from(provider.name()))],
    )
}

fn sign_in_path(ctl: &Controller) -> String {
    ctl.config.routes().session_path(&ctl.routes_ctx(), "new")
}

fn identities_path(config: &PowConfig) -> String {
    extension_path(config, NAME, IDENTITIES_PATH, &[])
}

/// The callback URL the provider sends the browser back to (registered with the provider).
fn callback_url(req: &HttpRequest, config: &PowConfig, provider: &str) -> String {
    let path = path(config, CALLBACK_PATH, provider);
    match config.base_url() {
        Some(base) => format!("{}{path}", base.trim_end_matches('/')),
        None => format!(
            "{}{path}",
            pow_actix::web::ActixRequest(req)
                .facts()
                .origin
                .unwrap_or_default()
        ),
    }
}

/// The provider named in the path, or a `404`.
fn find(ext: &OAuth, id: &str) -> Result<Provider, HttpResponse> {
    ext.find(id)
        .cloned()
        .ok_or_else(|| HttpResponse::NotFound().finish())
}

/// Sends the browser to the provider, binding the sign-in to it: its cookie session holds
/// the `state` the provider must send back.
async fn begin(
    ctl: &mut Controller,
    ext: &OAuth,
    provider: &Provider,
    link_user: Option<i64>,
    back: String,
) -> Result<Outcome, PowError> {
    let target = Begin {
        redirect_uri: callback_url(&ctl.req, &ctl.config, provider.id()),
        link_user,
        request_path: ctl.request_path.clone(),
        api: false,
    };
    let Some(opened) = flow::open(&ctl.config, ext, provider, target).await? else {
        flash::put_error(
            &ctl.req,
            message(ctl, "pow_oauth_provider_unavailable", provider),
        );
        return Ok(Outcome::redirect(&back));
    };
    let mut held = held_states(&ctl.req, &ctl.config);
    held.push(opened.state);
    let excess = held.len().saturating_sub(MAX_PENDING_STATES);
    held.drain(..excess);
    ctl.req
        .cookie_session()
        .insert(state_key(&ctl.config), held)?;
    Ok(Outcome::redirect(&opened.url))
}

async fn start_sign_in(
    req: HttpRequest,
    provider: web::Path<String>,
    ext: web::Data<OAuth>,
) -> pow_actix::Result<HttpResponse> {
    let provider = match find(&ext, &provider) {
        Ok(provider) => provider,
        Err(not_found) => return Ok(not_found),
    };
    Action::new(actions::NEW)
        .signed_out()
        .run(&req, async |ctl| {
            let back = sign_in_path(ctl);
            begin(ctl, &ext, &provider, None, back).await
        })
        .await
        .map_err(pow_actix::Error)
}

async fn start_link(
    req: HttpRequest,
    body: Bytes,
    provider: web::Path<String>,
    ext: web::Data<OAuth>,
) -> pow_actix::Result<HttpResponse> {
    let provider = match find(&ext, &provider) {
        Ok(provider) => provider,
        Err(not_found) => return Ok(not_found),
    };
    Action::new(actions::LINK)
        .sudo()
        .form(FormData::parse(&body))
        .run(&req, async |ctl| {
            let user_id = ctl.signed_in()?.id;
            let back = identities_path(&ctl.config);
            begin(ctl, &ext, &provider, Some(user_id), back).await
        })
        .await
        .map_err(pow_actix::Error)
}

/// The provider's answer: a code and the state, or an error.
#[derive(Debug, Deserialize)]
struct CallbackQuery {
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    state: Option<String>,
    #[serde(default)]
    error: Option<String>,
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

async fn refuse(
    req: &HttpRequest,
    provider: &Provider,
    refusal: Refusal,
    back_to_account: bool,
) -> Result<HttpResponse, PowError> {
    Action::new(actions::FAILED)
        .run(req, async |ctl| {
            let key = match refusal {
                Refusal::State => "pow_oauth_invalid_state",
                Refusal::Denied => "pow_oauth_denied",
                Refusal::Provider => "pow_oauth_provider_unavailable",
                Refusal::Token => "pow_oauth_invalid_token",
            };
            flash::put_error(&ctl.req, message(ctl, key, provider));
            let back = if back_to_account && session::is_signed_in(&ctl.req) {
                identities_path(&ctl.config)
            } else {
                sign_in_path(ctl)
            };
            Ok(Outcome::redirect(&back))
        })
        .await
}

/// Takes the sign-in the browser began, if `state` is the one its cookie session holds.
async fn take_attempt(
    req: &HttpRequest,
    config: &PowConfig,
    provider: &Provider,
    state: Option<&str>,
) -> Result<Option<Attempt>, PowError> {
    let Some(state) = state else {
        return Ok(None);
    };
    let mut held = held_states(req, config);
    let Some(at) = held
        .iter()
        .position(|h| secure_compare(h.as_bytes(), state.as_bytes()))
    else {
        return Ok(None);
    };
    held.remove(at);
    let session = req.cookie_session();
    let key = state_key(config);
    let written = if held.is_empty() {
        session.remove(&key);
        Ok(())
    } else {
        session.insert(key, held)
    };
    written?;
    Ok(Records::new(config)
        .take::<Attempt>(ATTEMPT, state)
        .await?
        .filter(|attempt| attempt.provider == provider.id() && !attempt.api))
}

async fn callback(
    req: HttpRequest,
    provider: web::Path<String>,
    query: web::Query<CallbackQuery>,
    ext: web::Data<OAuth>,
) -> pow_actix::Result<HttpResponse> {
    let provider = match find(&ext, &provider) {
        Ok(provider) => provider,
        Err(not_found) => return Ok(not_found),
    };
    let config = route_config(&req)?;
    let query = query.into_inner();
    let Some(attempt) = take_attempt(&req, &config, &provider, query.state.as_deref()).await?
    else {
        return Ok(refuse(&req, &provider, Refusal::State, true).await?);
    };
    let linking = attempt.link_user.is_some();
    if query.error.is_some() {
        return Ok(refuse(&req, &provider, Refusal::Denied, linking).await?);
    }
    let Some(code) = query.code else {
        return Ok(refuse(&req, &provider, Refusal::Provider, linking).await?);
    };
    let (profile, identity) = match flow::finish(&config, &ext, &provider, &attempt, code).await? {
        Ok(found) => found,
        Err(err) => {
            let refusal = match err {
                OAuthError::InvalidIdToken(_) => Refusal::Token,
                _ => Refusal::Provider,
            };
            return Ok(refuse(&req, &provider, refusal, linking).await?);
        }
    };
    match attempt.link_user {
        Some(user_id) => Ok(link(&req, &provider, user_id, &profile, identity).await?),
        None => match identity {
            Some(identity) => Ok(sign_in(&req, &provider, identity, attempt).await?),
            None => Ok(sign_up(&req, &ext, &provider, &profile, attempt).await?),
        },
    }
}

pub(crate) fn audit(
    ctl: &Controller,
    name: pow_actix::audit::EventName,
    user_id: i64,
    provider: &Provider,
) {
    pow_actix::audit::record(
        &ctl.config,
        pow_actix::audit::AuditEvent::new(name)
            .request(&ctl.config, &pow_actix::web::ActixRequest(&ctl.req).facts())
            .user(user_id)
            .detail("provider", provider.id()),
    );
}

async fn sign_in(
    req: &HttpRequest,
    provider: &Provider,
    identity: Identity,
    attempt: Attempt,
) -> Result<HttpResponse, PowError> {
    Action::new(actions::SIGN_IN)
        .signed_out()
        .run(req, async |ctl| {
            ctl.request_path = attempt.request_path.clone();
            let user = ctl.config.users()?.get(identity.user_id).await?;
            let Some(user) = user else {
                flash::put_error(&ctl.req, message(ctl, "pow_oauth_invalid_state", provider));
                return Ok(Outcome::redirect(&sign_in_path(ctl)));
            };
            // A disabled user is refused by the sign-in itself.
            let mut session = CookieSessionHandle::new(&ctl.req);
            let event = crate::events::SIGNED_IN;
            flow::sign_in(
                &ctl.config,
                &pow_actix::web::ActixRequest(&ctl.req).facts(),
                &user,
                provider,
                event,
                &mut *session,
            )
            .await?;
            flash::put_info(&ctl.req, ctl.config.messages().signed_in(&ctl.lang));
            ctl.user = Some(user);
            Ok(Outcome::redirect(
                &ctl.config.routes().after_sign_in_path(&ctl.routes_ctx()),
            ))
        })
        .await
}

/// A provider account nobody linked: a new user from the profile (see [`check_sign_up`]).
async fn sign_up(
    req: &HttpRequest,
    ext: &OAuth,
    provider: &Provider,
    profile: &Profile,
    attempt: Attempt,
) -> Result<HttpResponse, PowError> {
    let config = route_config(req)?;
    let staged = ext.staged(&config);
    let email = match check_sign_up(&config, profile, staged.is_some()).await? {
        SignUpCheck::Create(email) => email,
        SignUpCheck::Refuse(key)
            if key == TAKEN && !profile.email_verified && config.prevent_user_enumeration() =>
        {
            return taken_unverified(req, ext, provider, profile, attempt).await;
        }
        SignUpCheck::Refuse(key) => return failed(req, provider, key).await,
        SignUpCheck::Staged(email) => {
            let staged = staged.ok_or_else(|| PowError::Config("no staged sign-up".into()))?;
            return staged_sign_up(req, &config, provider, profile, &email, &*staged).await;
        }
    };
    let params = sign_up_params(&email, profile);
    Action::new(actions::SIGN_UP)
        .signed_out()
        .params(params.clone())
        .run(req, async |ctl| {
            ctl.request_path = attempt.request_path.clone();
            // An address the provider vouches for is linked at once. Another is linked
            // only once its owner proves it in this browser (the confirmation link,
            // opened here): until then the provider account reaches nobody's account, so
            // a stranger's sign-up cannot take over the address's owner.
            let created = if profile.email_verified {
                create_linked_user(&ctl.config, provider, profile, params).await?
            } else {
                create_unlinked_user(&ctl.config, params).await?
            };
            let user = match created {
                Ok(user) => user,
                Err(key) => {
                    flash::put_error(&ctl.req, message(ctl, key, provider));
                    return Ok(Outcome::redirect(&sign_in_path(ctl)));
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
                    &mut *ActixClient::new(&ctl.req, Format::Html),
                    &ctl.config,
                    crate::pending::Slot::Confirmation,
                    &pending,
                )
                .await?;
            }
            let mut session = CookieSessionHandle::new(&ctl.req);
            let event = crate::events::REGISTERED;
            flow::sign_in(
                &ctl.config,
                &pow_actix::web::ActixRequest(&ctl.req).facts(),
                &user,
                provider,
                event,
                &mut *session,
            )
            .await?;
            ctl.user = Some(user);
            Ok(Outcome::redirect(
                &ctl.config
                    .routes()
                    .after_registration_path(&ctl.routes_ctx()),
            ))
        })
        .await
}

/// The message key of a sign-up refused because the address has an account.
const TAKEN: &str = "pow_oauth_email_taken";

/// A provider that does not vouch for the address names one that has an account. With
/// user enumeration protection on, the answer is that of a new address: the staged
/// sign-up's "we have sent a link", or the sign-up callbacks' answer to a taken address
/// (e-mail confirmation answers it as it answers a new one). Nothing is linked or mailed.
async fn taken_unverified(
    req: &HttpRequest,
    ext: &OAuth,
    provider: &Provider,
    profile: &Profile,
    attempt: Attempt,
) -> Result<HttpResponse, PowError> {
    let config = route_config(req)?;
    if ext.staged(&config).is_some() {
        return Action::new(actions::FAILED)
            .run(req, async |ctl| {
                flash::put_info(&ctl.req, message(ctl, "pow_oauth_staged_sent", provider));
                Ok(Outcome::redirect(&sign_in_path(ctl)))
            })
            .await;
    }
    if config.extensions().address_proof().is_none() {
        // Nothing could prove a new address either: it is refused as unverified.
        return failed(req, provider, "pow_oauth_email_unverified").await;
    }
    let email = profile
        .email
        .as_deref()
        .map(normalize_user_id)
        .unwrap_or_default();
    let params = sign_up_params(&email, profile);
    let provider = provider.clone();
    Action::new(actions::SIGN_UP)
        .signed_out()
        .params(params.clone())
        .run(req, async |ctl| {
            ctl.request_path = attempt.request_path.clone();
            let mut cs = Changeset::new(ChangesetAction::Create, None, params);
            cs.add_error("email", ValidationError::new("taken"));
            ctl.changeset = Some(cs);
            // Only when no sign-up callback answered for it.
            Ok(Outcome::render(move |ctl: &Controller| {
                flash::put_error(&ctl.req, message(ctl, TAKEN, &provider));
                Ok(redirect(&sign_in_path(ctl)))
            }))
        })
        .await
}

/// Ends a callback with an error the user can act on, on the sign-in page.
async fn failed(
    req: &HttpRequest,
    provider: &Provider,
    key: &str,
) -> Result<HttpResponse, PowError> {
    Action::new(actions::FAILED)
        .run(req, async |ctl| {
            flash::put_error(&ctl.req, message(ctl, key, provider));
            Ok(Outcome::redirect(&sign_in_path(ctl)))
        })
        .await
}

/// An address the provider did not verify, with staged sign-up available: the address
/// gets a link that proves it and opens the sign-up form prefilled from the profile; the
/// provider account is linked when that form creates the user.
async fn staged_sign_up(
    req: &HttpRequest,
    config: &PowConfig,
    provider: &Provider,
    profile: &Profile,
    email: &str,
    staged: &dyn pow_actix::extension::StagedSignUp,
) -> Result<HttpResponse, PowError> {
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
    let mut client = ActixClient::new(req, Format::Html);
    crate::pending::put(&mut *client, config, crate::pending::Slot::Staged, &pending).await?;
    drop(client);
    staged
        .start(
            config,
            &pow_actix::web::ActixRequest(req).facts(),
            email,
            prefill,
        )
        .await?;
    Action::new(actions::FAILED)
        .run(req, async |ctl| {
            flash::put_info(&ctl.req, message(ctl, "pow_oauth_staged_sent", provider));
            Ok(Outcome::redirect(&sign_in_path(ctl)))
        })
        .await
}

/// The signed-in user linking a provider account.
async fn link(
    req: &HttpRequest,
    provider: &Provider,
    user_id: i64,
    profile: &Profile,
    identity: Option<Identity>,
) -> Result<HttpResponse, PowError> {
    Action::new(actions::LINKED)
        .signed_in()
        .run(req, async |ctl| {
            let user = ctl.signed_in()?.clone();
            let back = identities_path(&ctl.config);
            if user.id != user_id {
                // Began by another user in this browser: nothing to link.
                flash::put_error(&ctl.req, message(ctl, "pow_oauth_invalid_state", provider));
                return Ok(Outcome::redirect(&back));
            }
            let unproven = ctl
                .config
                .extensions()
                .address_proof()
                .is_some_and(|proof| !proof.is_proven(&user));
            if unproven {
                // Links wait for a proven address: whoever signed up with someone else's
                // address (soft mode lets them in) must not keep a way into the account.
                flash::put_error(
                    &ctl.req,
                    message(ctl, "pow_oauth_link_unconfirmed", provider),
                );
                return Ok(Outcome::redirect(&back));
            }
            let key = match identity {
                Some(identity) if identity.user_id == user.id => "pow_oauth_already_linked",
                Some(_) => "pow_oauth_linked_elsewhere",
                None => {
                    let inserted = identities(&ctl.config)?
                        .insert(
                            provider.id(),
                            &profile.uid,
                            user_id,
                            profile.email.as_deref(),
                        )
                        .await?;
                    match inserted {
                        Insert::Linked => {
                            audit(ctl, crate::events::LINKED, user.id, provider);
                            crate::mail::notify(
                                ctl,
                                &ActixRequest(&ctl.req).facts(),
                                &user,
                                provider,
                                true,
                            )
                            .await;
                            "pow_oauth_linked"
                        }
                        Insert::Taken => "pow_oauth_linked_elsewhere",
                    }
                }
            };
            if key == "pow_oauth_linked" || key == "pow_oauth_already_linked" {
                flash::put_info(&ctl.req, message(ctl, key, provider));
            } else {
                flash::put_error(&ctl.req, message(ctl, key, provider));
            }
            ctl.user = Some(user);
            Ok(Outcome::redirect(&back))
        })
        .await
}

/// The linked accounts page: each with an unlink button, each provider with a link button.
async fn index(req: HttpRequest, ext: web::Data<OAuth>) -> pow_actix::Result<HttpResponse> {
    Action::new(actions::INDEX)
        .signed_in()
        .run(&req, async |ctl| {
            let user_id = ctl.signed_in()?.id;
            let linked = identities(&ctl.config)?.for_user(user_id).await?;
            let providers = ext.providers.clone();
            Ok(Outcome::render(move |ctl: &Controller| {
                let mut forms = Vec::new();
                for identity in &linked {
                    let Some(provider) = providers.iter().find(|p| p.id == identity.provider)
                    else {
                        continue;
                    };
                    let label = ctl.config.messages().message(
                        &ctl.lang,
                        "pow_oauth_button_unlink",
                        &[
                            ("provider", MessageArg::from(provider.name())),
                            (
                                "account",
                                MessageArg::from(
                                    identity.email.as_deref().unwrap_or(&identity.uid),
                                ),
                            ),
                        ],
                    );
                    let uid = Field::new("uid", "", FieldType::Hidden).value(identity.uid.clone());
                    forms.push(
                        Form::new(
                            path(&ctl.config, UNLINK_PATH, provider.id()),
                            label.unwrap_or_default(),
                            "",
                        )
                        .field(uid),
                    );
                }
                for provider in &providers {
                    let label = message(ctl, "pow_oauth_button_link", provider);
                    forms.push(Form::new(
                        path(&ctl.config, LINK_PATH, provider.id()),
                        label.unwrap_or_default(),
                        "",
                    ));
                }
                let mut forms = forms.into_iter();
                let Some(form) = forms.next() else {
                    return Ok(HttpResponse::NotFound().finish());
                };
                let body = PageBody::Form {
                    form,
                    links: vec![Link::new(
                        ctl.config
                            .routes()
                            .registration_path(&ctl.routes_ctx(), "edit"),
                        ctl.text("pow_oauth_link_account"),
                    )],
                    extra_forms: forms.collect(),
                };
                let mut page = Page::new("oauth/index", "pow_oauth_title_identities", body);
                page.info = if linked.is_empty() {
                    ctl.message("pow_oauth_none_linked")
                } else {
                    None
                };
                render_page(&ctl.req, &ctl.config, &ctl.lang, page)
            }))
        })
        .await
}

/// Unlinks a provider account. The last way to sign in stays: without a password (and
/// without passwordless sign-in) the only linked account cannot go.
async fn unlink(
    req: HttpRequest,
    body: Bytes,
    provider: web::Path<String>,
    ext: web::Data<OAuth>,
) -> pow_actix::Result<HttpResponse> {
    let provider = match find(&ext, &provider) {
        Ok(provider) => provider,
        Err(not_found) => return Ok(not_found),
    };
    Action::new(actions::UNLINK)
        .sudo()
        .form(FormData::parse(&body))
        .run(&req, async |ctl| {
            let user = ctl.signed_in()?.clone();
            let uid = ctl.params.get("uid").cloned().unwrap_or_default();
            let back = identities_path(&ctl.config);
            let identities = identities(&ctl.config)?;
            let all = identities.for_user(user.id).await?;
            let other_ways = user.password_hash.is_some()
                || ctl
                    .config
                    .extensions()
                    .credential_kinds()
                    .any(|kind| kind != crate::CREDENTIAL_KIND)
                || all
                    .iter()
                    .any(|i| !(i.provider == provider.id() && i.uid == uid));
            if !other_ways {
                flash::put_error(&ctl.req, message(ctl, "pow_oauth_last_method", &provider));
                return Ok(Outcome::redirect(&back));
            }
            let deleted = identities.delete(provider.id(), &uid, user.id).await?;
            if deleted {
                audit(ctl, crate::events::UNLINKED, user.id, &provider);
                crate::mail::notify(
                    ctl,
                    &ActixRequest(&ctl.req).facts(),
                    &user,
                    &provider,
                    false,
                )
                .await;
                flash::put_info(&ctl.req, message(ctl, "pow_oauth_unlinked", &provider));
            }
            ctl.user = Some(user);
            Ok(Outcome::redirect(&back))
        })
        .await
}
