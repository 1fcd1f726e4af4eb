//! Mailed links: [`LinkKind`], which mail's link, and [`LinkTemplate`], where it points
//! when the app's frontend opens it ([`PowConfigBuilder::frontend_link`](crate::PowConfigBuilder::frontend_link)). Also
//! re-exported from [`api`](crate::api).

use crate::error::PowError;

/// A kind of mailed link that carries a token (a reset link, an invitation): the name
/// under which [`PowConfigBuilder::frontend_link`](crate::PowConfigBuilder::frontend_link)
/// points it at the app's own frontend. The core sends [`LinkKind::UNLOCK`]; each
/// extension declares its own with
/// [`ExtensionBuilder::mail_links`](crate::extension::ExtensionBuilder::mail_links) and
/// exports them as constants (`pow_ext_reset_password::LINK`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LinkKind(&'static str);

impl LinkKind {
    /// The unlock link of the core's lock notice; the frontend sends the token to
    /// `POST <api>/session/unlock` as `{"token": ...}`.
    pub const UNLOCK: LinkKind = LinkKind::new("unlock");

    /// A kind: lowercase, words joined by `_` (`"reset_password"`).
    pub const fn new(name: &'static str) -> Self {
        Self(name)
    }

    /// The kind's name.
    pub fn as_str(&self) -> &'static str {
        self.0
    }
}

impl std::fmt::Display for LinkKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

/// Where a mailed link points (a password reset, an email confirmation, an invitation): a
/// URL with one `{token}` placeholder that the signed token replaces. Set one per
/// [`LinkKind`] with [`PowConfigBuilder::frontend_link`](crate::PowConfigBuilder::frontend_link).
///
/// A JSON API often has no HTML pages for the link to open. The template points the link
/// at the client instead: a page of a single-page app
/// (`https://app.example.com/reset-password?token={token}`), or a universal link or
/// custom scheme a mobile app handles (`myapp://confirm-email/{token}`). The client reads
/// the token from the link and sends it to the matching JSON endpoint.
///
/// The template is part of the server's setup, never taken from a request, so nobody can
/// make the server mail links to a site of their choosing.
///
/// ```
/// use pow_core::api::LinkTemplate;
///
/// let link = LinkTemplate::new("https://app.example.com/reset-password?token={token}")?;
/// assert_eq!(
///     link.url("SFMyNTY.abc.def"),
///     "https://app.example.com/reset-password?token=SFMyNTY.abc.def"
/// );
/// assert!(LinkTemplate::new("https://app.example.com/reset-password").is_err());
/// assert!(LinkTemplate::new("/reset-password/{token}").is_err(), "must be absolute");
/// # Ok::<_, pow_core::PowError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinkTemplate(String);

impl LinkTemplate {
    /// The placeholder the signed token replaces.
    pub const PLACEHOLDER: &'static str = "{token}";

    /// A template; it must hold [`PLACEHOLDER`](Self::PLACEHOLDER) exactly once and be an
    /// absolute URL (any scheme, so custom app schemes work).
    ///
    /// # Errors
    /// [`PowError::Config`] saying what is wrong with the template.
    pub fn new(template: impl Into<String>) -> Result<Self, PowError> {
        let template = template.into();
        let count = template.matches(Self::PLACEHOLDER).count();
        if count != 1 {
            return Err(PowError::Config(format!(
                "link template `{template}` must contain `{}` exactly once (found {count})",
                Self::PLACEHOLDER
            )));
        }
        let sample = template.replace(Self::PLACEHOLDER, "token");
        let url = url::Url::parse(&sample).map_err(|err| {
            PowError::Config(format!(
                "link template `{template}` is not an absolute URL ({err}); write it like \
                 `https://app.example.com/reset-password?token={{token}}`"
            ))
        })?;
        if url.scheme() == "http"
            && !matches!(url.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"))
        {
            tracing::warn!(
                template = %template,
                "link template uses plain http: tokens in mailed links can be read on the way"
            );
        }
        Ok(Self(template))
    }

    /// The link for `signed_token`. Characters outside the URL-safe set are
    /// percent-encoded (signed pow-rs tokens have none).
    pub fn url(&self, signed_token: &str) -> String {
        self.0
            .replacen(Self::PLACEHOLDER, &percent_encode(signed_token), 1)
    }

    /// The template as given.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
fn percent_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_need_one_placeholder_and_an_absolute_url() {
        assert!(LinkTemplate::new("myapp://confirm-email/{token}").is_ok());
        assert!(LinkTemplate::new("https://a.example/{token}/{token}").is_err());
        assert!(LinkTemplate::new("https://a.example/reset").is_err());
        assert!(LinkTemplate::new("reset/{token}").is_err());
        assert!(LinkTemplate::new("").is_err());
    }

    #[test]
    fn tokens_are_encoded() {
        let link = LinkTemplate::new("https://a.example/r#t={token}").unwrap();
        assert_eq!(
            link.url("SFMyNTY.a-b_c.d"),
            "https://a.example/r#t=SFMyNTY.a-b_c.d"
        );
        assert_eq!(
            link.url("a b&c/é"),
            "https://a.example/r#t=a%20b%26c%2F%C3%A9"
        );
        assert_eq!(link.as_str(), "https://a.example/r#t={token}");
    }
}
