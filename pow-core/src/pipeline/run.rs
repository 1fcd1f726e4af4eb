//! The engine half of an action's run, around the extensions' callbacks and the action:
//! who may run it ([`check_access`]: access, support access, sudo mode, step-up rules, the
//! factor-change rule), the rate limits, the account lock and the CAPTCHA ([`admit`]), and
//! once it ran the audit events and the counted password check ([`finish`]). A framework
//! layer parses the request, checks a posted form's CSRF token between the first two, runs
//! the callbacks and the action, and renders what these answer: a [`Refusal`] or an error.

use crate::audit::{record, record_with, AuditEvent, EventName};
use crate::config::{PowConfig, RouteContext};
use crate::error::PowError;
use crate::limits::{Admission, Check, CheckKind, LimitReason, RateLimited, SignInAttempt};
use crate::request::RequestSource;
use crate::session::{AuthMethod, CurrentSession, StepUp};
use crate::users::validation::normalize_user_id;
use crate::users::Value;

use super::{ActionKind, Flow, Halt, Step};

/// Who may run an action.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Access {
    /// Anyone, signed in or not.
    #[default]
    Anyone,
    /// Only visitors who are not signed in (sign-in and registration pages); others are
    /// refused with [`Refusal::AlreadyAuthenticated`].
    SignedOut,
    /// Only signed-in users; others are refused with [`Refusal::NotAuthenticated`].
    SignedIn,
}

/// What an action asks of its client before it runs (a framework's action builder fills
/// it: pow-actix's `Action::sudo`, `step_up`, ...).
#[derive(Clone, Debug, Default)]
pub struct Requirements {
    /// Who may run it.
    pub access: Access,
    /// Sudo mode: the session proved the password within the setup's
    /// [`sudo_window`](crate::SessionConfig::sudo_window).
    pub sudo: bool,
    /// A step-up rule the session must meet.
    pub step_up: Option<StepUp>,
    /// It changes one of the user's second factors: the engine's
    /// `factor_change_rule` applies.
    pub changes_factor: bool,
    /// Only the account's owner may run it (never support access).
    pub owner_only: bool,
    /// The setup's CAPTCHA, when it has one, must accept the client's answer.
    pub captcha: bool,
}

/// The rules as a route declares them, each with what it implies (sudo mode needs a
/// signed-in session, a factor change needs sudo mode): page and JSON routes build theirs
/// with these.
///
/// ```
/// use pow_core::pipeline::{Access, Requirements};
///
/// let rules = Requirements::default().changes_factor();
/// assert!(rules.changes_factor && rules.sudo);
/// assert_eq!(rules.access, Access::SignedIn);
/// ```
impl Requirements {
    /// Only signed-in clients.
    pub fn signed_in(mut self) -> Self {
        self.access = Access::SignedIn;
        self
    }

    /// Only visitors who are not signed in.
    pub fn signed_out(mut self) -> Self {
        self.access = Access::SignedOut;
        self
    }

    /// Sudo mode (a signed-in session that proved the password within the sudo window).
    pub fn sudo(mut self) -> Self {
        self.sudo = true;
        self.signed_in()
    }

    /// A step-up rule the session must meet.
    pub fn step_up(mut self, rule: StepUp) -> Self {
        self.step_up = Some(rule);
        self.signed_in()
    }

    /// It changes one of the user's second factors (sudo mode and the engine's rule on
    /// factor changes).
    pub fn changes_factor(mut self) -> Self {
        self.changes_factor = true;
        self.sudo()
    }

    /// Only the account's owner (never support access).
    pub fn owner_only(mut self) -> Self {
        self.owner_only = true;
        self.signed_in()
    }

    /// Never during support access, for an action a signed-out visitor may run too (a
    /// signed-in client runs it as the account's owner only):
    /// [`owner_only`](Self::owner_only) without asking for a sign-in.
    pub fn no_support_access(mut self) -> Self {
        self.owner_only = true;
        self
    }

    /// The setup's CAPTCHA, when it has one, checks the client's answer.
    pub fn captcha(mut self) -> Self {
        self.captcha = true;
        self
    }
}

/// The builders of [`Requirements`]' rules, one by one, for a type whose impl block has
/// `fn rules(self, add: impl FnOnce(Requirements) -> Requirements) -> Self`: page and JSON
/// routes and pow-axum's `Action` state their rules with the same methods
/// (`signed_in`, `signed_out`, `sudo`, `step_up`, `changes_factor`, `owner_only`,
/// `no_support_access`, `captcha`).
///
/// ```
/// use pow_core::pipeline::Requirements;
///
/// #[derive(Default)]
/// struct MyRoute {
///     requirements: Requirements,
/// }
///
/// impl MyRoute {
///     fn rules(mut self, add: impl FnOnce(Requirements) -> Requirements) -> Self {
///         self.requirements = add(std::mem::take(&mut self.requirements));
///         self
///     }
///
///     pow_core::rule_builders!();
/// }
///
/// assert!(MyRoute::default().sudo().requirements.sudo);
/// ```
#[macro_export]
macro_rules! rule_builders {
    () => {
        /// Only signed-in clients; others get the not-signed-in answer (the sign-in page
        /// for a browser, `401` for JSON).
        pub fn signed_in(self) -> Self {
            self.rules($crate::pipeline::Requirements::signed_in)
        }

        /// Only visitors who are not signed in (sign-in and registration pages).
        pub fn signed_out(self) -> Self {
            self.rules($crate::pipeline::Requirements::signed_out)
        }

        /// A sensitive action (sudo mode): only signed-in users whose session proved the
        /// password within the setup's sudo window. A browser is sent to the password
        /// confirmation page, which returns it here; JSON gets `403` with the code
        /// `reauthentication_required`.
        pub fn sudo(self) -> Self {
            self.rules($crate::pipeline::Requirements::sudo)
        }

        /// A step-up action: only signed-in users whose session proved one of `rule`'s
        /// methods within its window. A browser is sent to a page performing the first
        /// accepted method that has one (the password's confirmation page, an extension's
        /// step-up page), which returns it here; JSON gets `403` with the code
        /// `step_up_required` and the accepted methods.
        pub fn step_up(self, rule: $crate::session::StepUp) -> Self {
            self.rules(|requirements| requirements.step_up(rule))
        }

        /// An action that adds, replaces or removes one of the signed-in user's second
        /// factors: sudo mode, and the engine's one rule for every factor change (a user
        /// who has a second factor must have proved one within the sudo window, answered as
        /// a step-up), read against the user as stored.
        pub fn changes_factor(self) -> Self {
            self.rules($crate::pipeline::Requirements::changes_factor)
        }

        /// An action only the account's owner may take: never support access (refused with
        /// `403`, as for sudo and step-up actions), for actions that need no fresh proof
        /// but speak for the owner.
        pub fn owner_only(self) -> Self {
            self.rules($crate::pipeline::Requirements::owner_only)
        }

        /// Never during support access, for an action a signed-out visitor may run too.
        pub fn no_support_access(self) -> Self {
            self.rules($crate::pipeline::Requirements::no_support_access)
        }

        /// A target of bots (a sign-up, a sign-in, a request that mails): when the setup
        /// has a CAPTCHA, the client's answer is checked after the rate limits and before
        /// the action runs. A refused answer sends a browser back to the form with an error
        /// and answers JSON `400 captcha_invalid`; a verifier that failed answers `503`.
        pub fn captcha(self) -> Self {
            self.rules($crate::pipeline::Requirements::captcha)
        }
    };
}

/// Why an action was refused before it ran; each framework layer renders it (a page, a
/// redirect, a JSON error).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Nobody is signed in.
    NotAuthenticated,
    /// Somebody is signed in where only visitors may come.
    AlreadyAuthenticated,
    /// Support access asked for what needs the user's own proof.
    ImpersonationForbidden,
    /// Sudo mode: the password must be confirmed again, on `page` (the setup's
    /// confirmation page).
    Reauthenticate {
        /// The page that confirms the password.
        page: String,
    },
    /// A step-up rule is not met: the methods it accepts, and the page performing the first
    /// of them that has one (`None`: no method has a page).
    StepUp {
        /// The accepted methods, in the rule's order.
        methods: Vec<AuthMethod>,
        /// The page a browser is sent to.
        page: Option<String>,
    },
}

impl Refusal {
    /// The error a JSON answer reports, and a page without a better answer shows.
    pub fn error(&self) -> PowError {
        match self {
            Self::NotAuthenticated | Self::AlreadyAuthenticated => {
                PowError::Other("the action's access rule refused the client".into())
            }
            Self::ImpersonationForbidden => PowError::ImpersonationForbidden,
            Self::Reauthenticate { .. } => PowError::ReauthenticationRequired,
            Self::StepUp { methods, .. } => {
                PowError::StepUpRequired(methods.iter().map(|m| m.as_str()).collect())
            }
        }
    }
}

/// Checks who may run the action `step` is about to run, for a client signed in with
/// `current`: `None` lets it run. In order: the access rule, support access (refused for
/// sudo, step-up and owner-only actions), sudo mode, the step-up rule, and for an action
/// that changes a factor the engine's rule on factor changes (read against the user as
/// stored, so a session older than the user's newest factor cannot skip it).
///
/// # Errors
/// The users context's error (the factor-change rule reads the user).
pub(crate) async fn check_access(
    step: &Step,
    current: Option<&CurrentSession>,
    requirements: &Requirements,
) -> Result<Option<Refusal>, PowError> {
    let config = &step.config;
    match requirements.access {
        Access::Anyone => {}
        Access::SignedIn if current.is_none() => return Ok(Some(Refusal::NotAuthenticated)),
        Access::SignedIn => {}
        Access::SignedOut if current.is_some() => {
            return Ok(Some(Refusal::AlreadyAuthenticated));
        }
        Access::SignedOut => {}
    }
    let own_proof = requirements.sudo || requirements.step_up.is_some() || requirements.owner_only;
    if own_proof && current.is_some_and(|c| c.metadata.is_impersonation()) {
        return Ok(Some(Refusal::ImpersonationForbidden));
    }
    let ctx = guard_context(step);
    let fresh = current.is_some_and(|c| c.metadata.is_fresh(config.session().sudo_window));
    if requirements.sudo && !fresh {
        let page = config.routes().session_path(&ctx, "confirm");
        return Ok(Some(Refusal::Reauthenticate { page }));
    }
    if let Some(rule) = &requirements.step_up {
        if let Some(refused) = step_up_refusal(config, &ctx, current, rule) {
            return Ok(Some(refused));
        }
    }
    if let (true, Some(current)) = (requirements.changes_factor, current) {
        let stored = config.users()?.get(current.user.id).await?;
        let user = stored.as_ref().unwrap_or(&current.user);
        if let Some(rule) = config.extensions().factor_change_rule(config, user).await? {
            if let Some(refused) = step_up_refusal(config, &ctx, Some(current), &rule) {
                return Ok(Some(refused));
            }
        }
    }
    Ok(None)
}

/// The routes of a refusal's pages: the step's page, no page to return to yet (the
/// framework adds where the client came from).
fn guard_context(step: &Step) -> RouteContext<'_> {
    RouteContext {
        request_path: None,
        ..step.routes_ctx()
    }
}

/// How a client signed in with `current` that does not meet the step-up `rule` is refused,
/// or `None` when it meets it: the accepted methods, and the page performing the first
/// that has one (the password's confirmation page, an extension's
/// [`step_up_page`](crate::extension::ExtensionBuilder::step_up_page)).
pub fn step_up_refusal(
    config: &PowConfig,
    ctx: &RouteContext<'_>,
    current: Option<&CurrentSession>,
    rule: &StepUp,
) -> Option<Refusal> {
    if current.is_some_and(|current| rule.is_met(&current.metadata, config)) {
        return None;
    }
    let methods = rule.methods(config);
    let page = methods.iter().find_map(|&method| match method {
        AuthMethod::PASSWORD => Some(config.routes().session_path(ctx, "confirm")),
        _ => config.extensions().step_up_page(method, config),
    });
    Some(Refusal::StepUp { methods, page })
}

/// Runs the rate limits and the account lock for the action of `step` (before any password
/// is hashed), then, for [`Requirements::captcha`] with a configured CAPTCHA, checks the
/// client's `answer`. Returns the admission to hold while the action runs and to hand to
/// [`finish`]. A refusal by the limits is audited here.
///
/// # Errors
/// [`PowError::RateLimited`], [`PowError::Busy`], [`PowError::CaptchaInvalid`],
/// [`PowError::CaptchaUnavailable`], or the store's error.
pub async fn admit(
    step: &Step,
    source: &dyn RequestSource,
    requirements: &Requirements,
    answer: Option<&str>,
) -> Result<Admission, PowError> {
    let config = &step.config;
    let facts = source.facts();
    let admission = match crate::limits::admit(config, &facts, limit_check(step)).await {
        Ok(admission) => admission,
        Err(err) => {
            if let PowError::RateLimited(limited) = &err {
                refused(step, source, limited);
            }
            return Err(err);
        }
    };
    if let Some(captcha) = config.captcha().filter(|_| requirements.captcha) {
        captcha.check(answer, facts.client_ip).await?;
    }
    Ok(admission)
}

/// Once the action of `step` ran: records what it came to (sign-ins, sign-ups, account
/// changes, sign-outs) and counts the password check the admission holds as right or wrong.
///
/// # Errors
/// The store's error.
pub async fn finish(
    step: &Step,
    source: &dyn RequestSource,
    admission: Admission,
) -> Result<(), PowError> {
    let sign_in = admission
        .sign_in
        .as_ref()
        .filter(|attempt| attempt.kind == CheckKind::SignIn);
    audit_action(step, source, sign_in);
    if let Some(attempt) = admission.sign_in {
        let proved = proved(step, attempt.kind);
        crate::limits::after_check(&step.config, source, &step.lang, attempt, proved).await?;
    }
    Ok(())
}

/// What the limits count for the action about to run: a sign-up, or a password check (a
/// sign-in names its identifier; sudo mode's confirmation and an account change with the
/// current password check the signed-in user's own).
fn limit_check(step: &Step) -> Option<Check> {
    let filled = |name: &str| step.params.get(name).is_some_and(|v| !v.is_empty());
    let field = step.config.user_id_field();
    let own = || {
        step.current_user
            .as_ref()?
            .get_str(field)
            .map(normalize_user_id)
    };
    let (identifier, kind) = match step.id.kind() {
        ActionKind::SignUp if !step.params.is_empty() => return Some(Check::SignUp),
        ActionKind::SignIn => {
            let raw = step.params.get(field)?;
            step.params.get("password")?;
            (normalize_user_id(raw), CheckKind::SignIn)
        }
        ActionKind::Reauthenticate if filled("password") => (own()?, CheckKind::Reauthenticate),
        ActionKind::UpdateUser if filled("current_password") => (own()?, CheckKind::Reauthenticate),
        _ => return None,
    };
    Some(Check::Password { identifier, kind })
}

/// Whether the checked password was right: `Some(true)` when the action signed a user in
/// or proved the password, `Some(false)` when it was wrong (or the identifier unknown),
/// `None` when an account change failed for another reason with the right current
/// password.
fn proved(step: &Step, kind: CheckKind) -> Option<bool> {
    if step.user.is_some() {
        return Some(true);
    }
    match (kind, &step.changeset) {
        (CheckKind::Reauthenticate, Some(cs)) if !cs.errors.has("current_password", "invalid") => {
            None
        }
        _ => Some(false),
    }
}

fn event(step: &Step, source: &dyn RequestSource, name: EventName) -> AuditEvent {
    AuditEvent::new(name)
        .request(&step.config, source)
        .detail("action", step.id.to_string())
}

/// A request the rate limits refused.
fn refused(step: &Step, source: &dyn RequestSource, limited: &RateLimited) {
    let reason = match limited.reason {
        LimitReason::TooManyAttempts => "rate_limited",
        LimitReason::Locked => "locked",
    };
    let field = step.config.user_id_field();
    let typed = step.params.get(field).map(|raw| normalize_user_id(raw));
    let name = match (step.id.kind(), &typed) {
        (ActionKind::SignIn, Some(_)) => crate::audit::SIGN_IN_FAILED,
        _ => crate::audit::RATE_LIMITED,
    };
    let mut event = event(step, source, name).detail("reason", reason);
    if let Some(identifier) = typed {
        event = event.identifier(&step.config, &identifier);
    }
    record(&step.config, event);
}

/// What an action that ran came to: sign-ins, sign-ups, account changes, sign-outs.
fn audit_action(step: &Step, source: &dyn RequestSource, sign_in: Option<&SignInAttempt>) {
    let config = &step.config;
    if let Some(attempt) = sign_in {
        match &step.user {
            Some(user) => record(
                config,
                event(step, source, crate::audit::SIGN_IN_SUCCEEDED)
                    .user(user.id)
                    .identifier(config, &attempt.identifier)
                    .detail("method", "password"),
            ),
            None => {
                // Wrong password or unknown user: told apart off the request path, so the
                // answer takes the same time either way.
                let failed = event(step, source, crate::audit::SIGN_IN_FAILED)
                    .identifier(config, &attempt.identifier)
                    .detail("reason", "invalid_credentials");
                let (cfg, identifier) = (config.clone(), attempt.identifier.clone());
                record_with(config, failed, move |event| {
                    let Ok(users) = cfg.users_context() else {
                        return;
                    };
                    let field = cfg.user_id_field();
                    if let Ok(found) =
                        users.get_by(cfg.user_schema(), field, &Value::Text(identifier))
                    {
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
    let Some(user) = &step.user else {
        return;
    };
    match step.id.kind() {
        ActionKind::SignUp => record(
            config,
            event(step, source, crate::audit::REGISTERED).user(user.id),
        ),
        ActionKind::SignOut => record(
            config,
            event(step, source, crate::audit::SIGNED_OUT).user(user.id),
        ),
        ActionKind::DeleteUser => record(
            config,
            event(step, source, crate::audit::ACCOUNT_DELETED).user(user.id),
        ),
        ActionKind::UpdateUser | ActionKind::CompleteSignUp => {
            let password = step.params.get("password").is_some_and(|p| !p.is_empty());
            let fields: Vec<&str> = step
                .params
                .keys()
                .map(String::as_str)
                .filter(|k| !k.contains("password"))
                .collect();
            record(
                config,
                event(step, source, crate::audit::ACCOUNT_UPDATED)
                    .user(user.id)
                    .detail("password", password)
                    .detail("fields", fields),
            );
            if password {
                record(
                    config,
                    event(step, source, crate::audit::PASSWORD_CHANGED).user(user.id),
                );
            }
        }
        _ => {}
    }
}

/// What a framework layer hands the engine's runner for one action: the action's
/// [`Step`], and a [`Client`](super::Client) over the request for each phase of the run
/// (the callbacks, the limits, the audit). The runner asks for the client once per phase,
/// so a layer whose client writes back into its request when dropped (pow-actix's) keeps
/// the request current between phases.
pub trait ActionHost {
    /// The action's step.
    fn step(&mut self) -> &mut Step;

    /// The action's step and a client over the request, for one phase of the run.
    fn split(&mut self) -> (&mut Step, &mut dyn super::Client);
}

/// What a framework read of the request an action answers, besides its [`Step`] and its
/// client: the rules of the route, the posted form's check, the client's CAPTCHA answer,
/// and where a refused browser goes back to.
#[derive(Clone, Debug, Default)]
pub struct ActionRequest {
    /// The route's rules. Its CAPTCHA rule applies only when the setup has a CAPTCHA and
    /// the request is not [`safe`](Self::safe).
    pub requirements: Requirements,
    /// A `GET` or `HEAD`: never asked for a CAPTCHA answer.
    pub safe: bool,
    /// For an action that takes a posted form: what the framework read of it.
    pub form: Option<PostedForm>,
    /// The client's CAPTCHA answer: the form's widget field, else the
    /// [`CAPTCHA_HEADER`](crate::captcha::CAPTCHA_HEADER).
    pub captcha_answer: Option<String>,
    /// Where a browser the CAPTCHA refused goes back to, with the reason as a flash text
    /// (the local page it came from); `None` answers the error instead (JSON, or a form
    /// posted from elsewhere).
    pub back: Option<String>,
}

/// What a framework read of a posted form, for the runner to judge: its type and its CSRF
/// token's check against the client's cookie session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PostedForm {
    /// Sent as `application/x-www-form-urlencoded`.
    pub urlencoded: bool,
    /// Its CSRF token (the `_csrf_token` field, or the `x-csrf-token` header) matches the
    /// client's cookie session.
    pub csrf_valid: bool,
}

impl PostedForm {
    /// Why the form is refused, if it is: its type first, then its token.
    pub fn refusal(self) -> Option<FormRefusal> {
        if !self.urlencoded {
            Some(FormRefusal::NotUrlencoded)
        } else if !self.csrf_valid {
            Some(FormRefusal::Csrf)
        } else {
            None
        }
    }
}

/// Why a posted form was refused before the action ran.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FormRefusal {
    /// Not sent as `application/x-www-form-urlencoded`: `415`.
    NotUrlencoded,
    /// Without a CSRF token that matches the client's session: `403`.
    Csrf,
}

impl FormRefusal {
    /// The answer's status.
    pub fn status(self) -> u16 {
        match self {
            Self::NotUrlencoded => 415,
            Self::Csrf => 403,
        }
    }

    /// The answer's text (plain text, as every framework sends it).
    pub fn text(self) -> &'static str {
        match self {
            Self::NotUrlencoded => "Forms must be sent as application/x-www-form-urlencoded.",
            Self::Csrf => "Invalid CSRF token. Reload the page and try again.",
        }
    }
}

/// Why an action stops before it runs, for the framework layer to write.
#[derive(Debug)]
pub enum Stop {
    /// Refused by its rules (`check_access`).
    Refused(Refusal),
    /// Its posted form was refused.
    BadForm(FormRefusal),
    /// The CAPTCHA refused a browser: its reason is queued as a flash text; send the
    /// browser back here.
    Back(String),
    /// A callback halted it.
    Halted(Halt),
}

/// What `before_action` came to: the action may run, holding the admission, or it stops.
#[derive(Debug)]
pub enum Before {
    /// Run the action inside [`Admission::run`], then `after_action` with this.
    Go(Admission),
    /// Answer this instead.
    Stop(Stop),
}

/// The first half of every action's run, the same for every framework and transport: who
/// may run it ([`check_access`]), the posted form's type and CSRF token, the rate limits,
/// the account lock and the CAPTCHA ([`admit`]), then each extension's `before_process`.
/// The framework layer reads the request into `host` and `request`, runs the action when
/// this says [`Before::Go`], then calls [`after_action`]; it writes a [`Stop`] as its
/// transport answers it.
///
/// # Errors
/// A callback's error; the limits' and the CAPTCHA's refusals ([`PowError::RateLimited`],
/// [`PowError::CaptchaInvalid`], ...) when there is no page to go back to.
pub(crate) async fn before_action<H: ActionHost + ?Sized>(
    host: &mut H,
    current: Option<&CurrentSession>,
    request: ActionRequest,
) -> Result<Before, PowError> {
    let mut requirements = request.requirements;
    requirements.captcha =
        requirements.captcha && !request.safe && host.step().config.captcha().is_some();
    if let Some(refusal) = check_access(host.step(), current, &requirements).await? {
        return Ok(Before::Stop(Stop::Refused(refusal)));
    }
    if let Some(refused) = request.form.and_then(PostedForm::refusal) {
        {
            let step = host.step();
            tracing::warn!(action = %step.id, ?refused, "refused a posted form");
            return Ok(Before::Stop(Stop::BadForm(refused)));
        }
    }
    if let Some(user) = &host.step().current_user {
        tracing::Span::current().record("user_id", user.id);
    }
    // Rate limits and the account lock, before any password is hashed; the CAPTCHA.
    let admission = {
        let (step, client) = host.split();
        match admit(
            step,
            &*client,
            &requirements,
            request.captcha_answer.as_deref(),
        )
        .await
        {
            Ok(admission) => admission,
            Err(err @ (PowError::CaptchaInvalid | PowError::CaptchaUnavailable)) => {
                let Some(back) = request.back else {
                    return Err(err);
                };
                let key = match err {
                    PowError::CaptchaUnavailable => "captcha-unavailable",
                    _ => "captcha-invalid",
                };
                client.flash(super::FlashKind::Error, Some(step.text(key)));
                return Ok(Before::Stop(Stop::Back(back)));
            }
            Err(err) => return Err(err),
        }
    };
    if let Some(halt) = callbacks(host, Moment::BeforeProcess).await? {
        return Ok(Before::Stop(Stop::Halted(halt)));
    }
    Ok(Before::Go(admission))
}

/// The second half of every action's run, once the action ran inside the admission of
/// [`before_action`]: the audit and the counted password check ([`finish`]), then, when
/// `respond` (the action's answer is one the callbacks see; not one that stopped before
/// doing anything they react to), each extension's `before_respond`. `Some` when a
/// callback halted: answer that instead of the action's answer.
///
/// # Errors
/// The store's or a callback's error.
pub(crate) async fn after_action<H: ActionHost + ?Sized>(
    host: &mut H,
    admission: Admission,
    respond: bool,
) -> Result<Option<Halt>, PowError> {
    if let Some(user) = &host.step().user {
        tracing::Span::current().record("user_id", user.id);
    }
    {
        // The facts as the action left them (the session it signed in, for the audit).
        let (step, client) = host.split();
        finish(step, &*client, admission).await?;
    }
    if !respond {
        return Ok(None);
    }
    callbacks(host, Moment::BeforeRespond).await
}

/// The two moments the extensions' callbacks run at.
#[derive(Clone, Copy)]
enum Moment {
    BeforeProcess,
    BeforeRespond,
}

/// Runs every enabled extension's callback of `moment`, in the setup's order: the first
/// that halts wins. The one place the callbacks run (pages and JSON alike).
async fn callbacks<H: ActionHost + ?Sized>(
    host: &mut H,
    moment: Moment,
) -> Result<Option<Halt>, PowError> {
    let config = host.step().config.clone();
    if config.extensions().callbacks().is_empty() {
        return Ok(None);
    }
    let (step, client) = host.split();
    for callbacks in config.extensions().callbacks() {
        let flow = match moment {
            Moment::BeforeProcess => callbacks.before_process(step, &mut *client).await?,
            Moment::BeforeRespond => callbacks.before_respond(step, &mut *client).await?,
        };
        if let Flow::Halt(halt) = flow {
            return Ok(Some(halt));
        }
    }
    Ok(None)
}
