//! The routes backend: where pow-rs sends users after each action (Pow's callback routes).
//!
//! Override single paths by implementing [`Routes`] and keeping the provided methods you
//! don't change:
//!
//! ```
//! use pow_core::config::{RouteContext, Routes};
//!
//! struct MyRoutes;
//! impl Routes for MyRoutes {
//!     fn after_sign_in_path(&self, ctx: &RouteContext<'_>) -> String {
//!         ctx.request_path.map(str::to_owned).unwrap_or_else(|| "/dashboard".into())
//!     }
//! }
//! ```

/// What the routes backend knows about the request.
#[derive(Clone, Copy, Debug, Default)]
pub struct RouteContext<'a> {
    /// The path and query of the current request when it is a `GET` (a page a signed-out
    /// visitor may come back to after signing in), else `None`.
    pub current_page: Option<&'a str>,
    /// Where pow-rs is mounted (`""` at the root, `"/admin"` under a scope).
    pub mount: &'a str,
    /// A validated local `request_path` (the page to return to after sign-in), if any.
    pub request_path: Option<&'a str>,
}

impl RouteContext<'_> {
    /// A path under the mount point.
    pub fn path(&self, path: &str) -> String {
        format!("{}{path}", self.mount)
    }
}

/// Pow's callback routes. Every method has Pow's default.
pub trait Routes: Send + Sync + 'static {
    /// Where an extension's route lives, relative to the mount point. `pattern` is the
    /// extension's default (`"/reset-password/new"`, `"/invitations/{token}/edit"`); return
    /// another pattern with the same `{…}` segments to move the route. Extensions register
    /// their routes and build their links through this, so both follow.
    fn extension_route(&self, _extension: &str, pattern: &str) -> String {
        pattern.to_owned()
    }

    /// After sign-in: the `request_path` if one was given, else `/`.
    fn after_sign_in_path(&self, ctx: &RouteContext<'_>) -> String {
        ctx.request_path
            .and_then(local_path)
            .map(str::to_owned)
            .unwrap_or_else(|| "/".to_owned())
    }

    /// After sign-out: the sign-in page.
    fn after_sign_out_path(&self, ctx: &RouteContext<'_>) -> String {
        self.session_path(ctx, "new")
    }

    /// After sign-up: same as after sign-in.
    fn after_registration_path(&self, ctx: &RouteContext<'_>) -> String {
        self.after_sign_in_path(ctx)
    }

    /// After an account edit: the edit page.
    fn after_user_updated_path(&self, ctx: &RouteContext<'_>) -> String {
        self.registration_path(ctx, "edit")
    }

    /// After deleting the account: same as after sign-out.
    fn after_user_deleted_path(&self, ctx: &RouteContext<'_>) -> String {
        self.after_sign_out_path(ctx)
    }

    /// Where a signed-out user is sent from a signed-in-only page: the sign-in page, with
    /// `request_path` (the current path and query) for GET requests.
    fn user_not_authenticated_path(&self, ctx: &RouteContext<'_>) -> String {
        let base = self.session_path(ctx, "new");
        if let Some(current) = ctx.current_page {
            if local_path(current).is_some() {
                let query =
                    serde_urlencoded::to_string([("request_path", current)]).unwrap_or_default();
                return format!("{base}?{query}");
            }
        }
        base
    }

    /// Where a signed-in user is sent from a signed-out-only page: after sign-in.
    fn user_already_authenticated_path(&self, ctx: &RouteContext<'_>) -> String {
        self.after_sign_in_path(ctx)
    }

    /// Session controller paths: `new` is `/session/new`, `confirm` `/session/confirm`
    /// (sudo mode), others `/session`.
    fn session_path(&self, ctx: &RouteContext<'_>, action: &str) -> String {
        match action {
            "new" => ctx.path("/session/new"),
            "confirm" => ctx.path("/session/confirm"),
            _ => ctx.path("/session"),
        }
    }

    /// Registration controller paths: `new`, `edit`, `activity`, others `/registration`.
    fn registration_path(&self, ctx: &RouteContext<'_>, action: &str) -> String {
        match action {
            "new" => ctx.path("/registration/new"),
            "edit" => ctx.path("/registration/edit"),
            "activity" => ctx.path("/registration/activity"),
            "sessions" => ctx.path("/registration/sessions"),
            _ => ctx.path("/registration"),
        }
    }
}

/// The path of `extension`'s route `pattern` under `config`'s mount point, as the routes
/// backend places it ([`Routes::extension_route`]), with each `{name}` segment replaced by
/// its value from `params`.
///
/// ```
/// use pow_core::config::extension_path;
/// use pow_core::PowConfig;
///
/// let config = PowConfig::builder("s".repeat(64)).build().unwrap();
/// let path = extension_path(&config, "pow_invitation", "/invitations/{token}/edit", &[("token", "abc")]);
/// assert_eq!(path, "/invitations/abc/edit");
/// ```
pub fn extension_path(
    config: &crate::PowConfig,
    extension: &str,
    pattern: &str,
    params: &[(&str, &str)],
) -> String {
    let mut path = config.routes().extension_route(extension, pattern);
    for (name, value) in params {
        path = path.replace(&format!("{{{name}}}"), value);
    }
    format!("{}{path}", config.mount_path())
}

/// Pow's default routes.
#[derive(Clone, Copy, Debug, Default)]
pub struct DefaultRoutes;

impl Routes for DefaultRoutes {}

/// Returns `path` if it is a local path (one leading `/`, no scheme, no backslash, no
/// control characters), so redirecting to it can't leave the site.
pub fn local_path(path: &str) -> Option<&str> {
    let ok = path.starts_with('/')
        && !path.starts_with("//")
        && !path.starts_with("/\\")
        && !path.contains('\\')
        && !path.chars().any(char::is_control);
    ok.then_some(path)
}

/// The `request_path` parameter of `query` (a query string without its `?`), when it is a
/// [local path](local_path): where a page sends the browser back to.
///
/// ```
/// use pow_core::config::request_path_param;
/// assert_eq!(request_path_param("a=1&request_path=%2Fsettings").as_deref(), Some("/settings"));
/// assert_eq!(request_path_param("request_path=%2F%2Fevil.example"), None);
/// ```
pub fn request_path_param(query: &str) -> Option<String> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query).unwrap_or_default();
    pairs
        .into_iter()
        .find(|(k, _)| k == "request_path")
        .map(|(_, v)| v)
        .filter(|v| local_path(v).is_some())
}

/// Where a page that asks for a confirmation (the password again, a step-up) sends the
/// browser back once it is done: the page itself for a `GET` (`path_and_query`), the page
/// the form was on for anything else (the `Referer`, when it names this `host`), and only
/// a [local path](local_path) either way. Every framework layer reads its request into
/// these four values.
///
/// ```
/// use pow_core::config::return_path;
///
/// assert_eq!(return_path(true, "/payouts?page=2", None, "app.example").as_deref(), Some("/payouts?page=2"));
/// let form = Some("https://app.example/settings?tab=keys");
/// assert_eq!(return_path(false, "/keys", form, "app.example").as_deref(), Some("/settings?tab=keys"));
/// assert_eq!(return_path(false, "/keys", Some("https://evil.example/"), "app.example"), None);
/// ```
pub fn return_path(
    get: bool,
    path_and_query: &str,
    referer: Option<&str>,
    host: &str,
) -> Option<String> {
    let path = if get {
        path_and_query.to_owned()
    } else {
        let url = url::Url::parse(referer?).ok()?;
        let referer_host = url.host_str().map(|h| match url.port() {
            Some(port) => format!("{h}:{port}"),
            None => h.to_owned(),
        });
        if referer_host.as_deref() != Some(host) {
            return None;
        }
        match url.query() {
            Some(query) => format!("{}?{query}", url.path()),
            None => url.path().to_owned(),
        }
    };
    local_path(&path).map(str::to_owned)
}

/// `page` with `?request_path=back` when there is a page to return to: the link to a page
/// that sends the browser back where it came from once done (a confirmation, a step-up).
///
/// ```
/// use pow_core::config::returning_to;
///
/// assert_eq!(returning_to("/session/confirm".into(), Some("/a?b=1")), "/session/confirm?request_path=%2Fa%3Fb%3D1");
/// assert_eq!(returning_to("/session/confirm".into(), None), "/session/confirm");
/// ```
pub fn returning_to(mut page: String, back: Option<&str>) -> String {
    if let Some(back) = back {
        page.push('?');
        page.push_str(&serde_urlencoded::to_string([("request_path", back)]).unwrap_or_default());
    }
    page
}
