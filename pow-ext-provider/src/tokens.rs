//! What the provider keeps in the cache store: authorization codes, token families, access
//! and refresh tokens. Every secret is kept under its keyed digest (a dump of the store
//! opens nothing), codes and refresh tokens are taken atomically (of concurrent
//! redemptions one wins), and every token belongs to a *family*, the tokens one code
//! redemption began: ending the family ends them all at once, on every server, because each
//! use of a token reads its family.
//!
//! An access token is opaque (`powat_…`, kept under its digest), or a JWT (RFC 9068) for a
//! resource that asks for JWTs, kept under the digest of its `jti`: one rule,
//! [`Tokens::access`], says which record a presented token names, and every reader (the
//! resource guard, userinfo, revocation, introspection) goes through it, so a JWT is as
//! revocable as an opaque token.

use std::time::Duration;

use pow_core::store::{Cache, Key, OneTimeSecrets, UserIndex};
use pow_core::users::User;
use pow_core::{PowConfig, PowError};
use rand::RngCore as _;
use serde::{Deserialize, Serialize};

use crate::{access_jwt, Provider};

/// The store namespace.
const NAMESPACE: &str = "pow_provider";

/// The per-user index of families.
const FAMILIES: UserIndex = UserIndex::new("provider_family");

/// How long a redeemed code is remembered, so that a second redemption is recognised.
const REDEEMED_TTL: Duration = Duration::from_secs(600);

/// The prefix of access tokens (secret scanners and log filters find them by it).
pub const ACCESS_PREFIX: &str = "powat_";
/// The prefix of refresh tokens.
pub const REFRESH_PREFIX: &str = "powrt_";
/// The prefix of authorization codes.
const CODE_PREFIX: &str = "powac_";

/// A new random secret with `prefix`: 32 random bytes, URL-safe base64.
pub(crate) fn secret(prefix: &str) -> String {
    use base64::Engine as _;
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    format!(
        "{prefix}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    )
}

/// An authorization code's record.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct CodeRecord {
    pub(crate) client_id: String,
    pub(crate) redirect_uri: String,
    pub(crate) user_id: i64,
    pub(crate) scopes: Vec<String>,
    pub(crate) nonce: Option<String>,
    /// The PKCE `code_challenge` (S256).
    pub(crate) challenge: String,
    /// The resource the tokens are for (RFC 8707), their audience.
    #[serde(default)]
    pub(crate) resource: Option<String>,
    /// When the user last proved who they are (seconds since the epoch).
    pub(crate) auth_time: i64,
    /// The authentication context class the request asked for and the session met.
    #[serde(default)]
    pub(crate) acr: Option<String>,
    /// The methods the session had proved (`password`, `totp`, ...).
    #[serde(default)]
    pub(crate) amr: Vec<String>,
    /// The family the redemption begins (fixed now, so a second redemption finds it).
    pub(crate) family: String,
}

/// A token family: what one code redemption granted.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Family {
    pub(crate) client_id: String,
    /// The user the tokens act for; `None` for a client acting for itself (client
    /// credentials).
    pub(crate) user_id: Option<i64>,
    pub(crate) scopes: Vec<String>,
    #[serde(default)]
    pub(crate) resource: Option<String>,
    pub(crate) auth_time: i64,
    /// The authentication context class met when the grant began (ID tokens carry it).
    #[serde(default)]
    pub(crate) acr: Option<String>,
    /// The methods the session had proved when the grant began.
    #[serde(default)]
    pub(crate) amr: Vec<String>,
}

/// An access token's record.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct AccessRecord {
    pub(crate) family: String,
    pub(crate) client_id: String,
    pub(crate) user_id: Option<i64>,
    pub(crate) scopes: Vec<String>,
    /// The resource it is for, if any: no other accepts it.
    #[serde(default)]
    pub(crate) audience: Option<String>,
    pub(crate) issued_at: i64,
    pub(crate) expires_at: i64,
}

/// A refresh token's record.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct RefreshRecord {
    family: String,
}

/// What taking a one-time secret (a code, a refresh token) came to.
#[derive(Debug)]
pub(crate) enum Taken<T> {
    /// Taken now, by this caller.
    Fresh(T),
    /// Taken before: the family it began is ended.
    Reused,
    /// Never issued, expired, ended, or another client's.
    Unknown,
}

/// Tokens issued to a client.
#[derive(Debug)]
pub(crate) struct Issued {
    pub(crate) access_token: String,
    pub(crate) refresh_token: Option<String>,
    pub(crate) expires_in: u64,
    pub(crate) family: Family,
    pub(crate) family_id: String,
}

/// The provider's records in `config`'s store.
pub(crate) struct Tokens {
    config: PowConfig,
    /// The issuer of the provider's tokens (JWT access tokens name it).
    issuer: String,
    codes: OneTimeSecrets,
    redeemed: OneTimeSecrets,
    access: OneTimeSecrets,
    refresh: OneTimeSecrets,
    used_refresh: OneTimeSecrets,
    families: Cache,
}

impl Tokens {
    pub(crate) fn new(config: &PowConfig, provider: &Provider) -> Self {
        let secrets = |purpose, ttl| OneTimeSecrets::new(config, NAMESPACE, purpose, ttl);
        Self {
            config: config.clone(),
            issuer: provider.issuer_of(config),
            codes: secrets("code", provider.code_ttl),
            redeemed: secrets("code_redeemed", REDEEMED_TTL),
            access: secrets("access", provider.access_ttl),
            refresh: secrets("refresh", provider.refresh_ttl),
            used_refresh: secrets("refresh_used", provider.refresh_ttl),
            families: Cache::new(
                std::sync::Arc::clone(config.store()),
                config.namespaced(NAMESPACE),
                Some(provider.refresh_ttl),
            ),
        }
    }

    /// Stores a code for `record` (its family id set from the code), returning the code.
    pub(crate) async fn put_code(&self, mut record: CodeRecord) -> Result<String, PowError> {
        let code = secret(CODE_PREFIX);
        record.family = self.family_of_code(&code);
        self.codes.put(&code, &record).await?;
        Ok(code)
    }

    /// The id of the family a code's redemption begins: a keyed digest of the code, so a
    /// second redemption finds it with the code's record gone.
    fn family_of_code(&self, code: &str) -> String {
        crate::clients::digest(&self.config, "pow_provider code family", code)
    }

    /// Takes the code: [`Taken::Fresh`] once, for one caller of any number at once. A
    /// code redeemed before ends the family its first redemption began ([`Taken::Reused`]),
    /// whether that redemption finished before or is still running.
    pub(crate) async fn redeem(&self, code: &str) -> Result<Taken<CodeRecord>, PowError> {
        if !code.starts_with(CODE_PREFIX) || code.len() > 200 {
            return Ok(Taken::Unknown);
        }
        if let Some(record) = self.codes.take::<CodeRecord>(code).await? {
            return Ok(Taken::Fresh(record));
        }
        // Gone: taken before, or never issued. Either way nothing may stand on it: mark
        // its family reused, which also ends the tokens a redemption running right now
        // is issuing (a made-up code's family never exists).
        self.end_reused(&self.family_of_code(code)).await?;
        match self.redeemed.get::<String>(code).await? {
            Some(_) => Ok(Taken::Reused),
            None => Ok(Taken::Unknown),
        }
    }

    /// Issues the tokens of a code's redemption: [`Taken::Reused`] when the code was
    /// presented again while they were being issued (they are ended at once).
    pub(crate) async fn issue_for_code(
        &self,
        provider: &Provider,
        code: &str,
        record: &CodeRecord,
        refresh: bool,
    ) -> Result<Taken<Issued>, PowError> {
        self.redeemed.put(code, &record.family).await?;
        let family = Family {
            client_id: record.client_id.clone(),
            user_id: Some(record.user_id),
            scopes: record.scopes.clone(),
            resource: record.resource.clone(),
            auth_time: record.auth_time,
            acr: record.acr.clone(),
            amr: record.amr.clone(),
        };
        let issued = self
            .issue(provider, &record.family, family, refresh)
            .await?;
        self.unless_reused(issued).await
    }

    /// Issues the tokens of a new family (a device's approved request).
    pub(crate) async fn issue_new(
        &self,
        provider: &Provider,
        family: Family,
        refresh: bool,
    ) -> Result<Taken<Issued>, PowError> {
        let id = secret("");
        let issued = self.issue(provider, &id, family, refresh).await?;
        Ok(Taken::Fresh(issued))
    }

    /// `issued`, unless its family was found reused meanwhile: then it is ended.
    async fn unless_reused(&self, issued: Issued) -> Result<Taken<Issued>, PowError> {
        let reused = self
            .families
            .get::<bool>(&reused_key(&issued.family_id))
            .await?
            .is_some();
        if reused {
            self.end_family(&issued.family_id).await?;
            return Ok(Taken::Reused);
        }
        Ok(Taken::Fresh(issued))
    }

    /// Ends family `id` because a code or refresh token of it was presented again. The
    /// mark stays, so tokens being issued for it right now are ended too.
    async fn end_reused(&self, id: &str) -> Result<(), PowError> {
        // The mark only has to outlive a redemption running now: a made-up code leaves
        // nothing in the store for long.
        let mark = (reused_key(id), b"true".to_vec());
        self.config
            .store()
            .put(self.families.namespace(), vec![mark], Some(REDEEMED_TTL))
            .await?;
        self.end_family(id).await
    }

    /// Issues an access token (and a refresh token when `refresh`) in family `id`,
    /// storing the family.
    async fn issue(
        &self,
        provider: &Provider,
        id: &str,
        family: Family,
        refresh: bool,
    ) -> Result<Issued, PowError> {
        self.families.put(&family_key(id), &family).await?;
        if let Some(user_id) = family.user_id {
            let index = FAMILIES.key(user_id, id);
            self.families.put(&index, &family.client_id).await?;
        }
        let now = self.config.clock().now_secs();
        let ttl = provider.access_ttl.as_secs();
        let record = AccessRecord {
            family: id.to_owned(),
            client_id: family.client_id.clone(),
            user_id: family.user_id,
            scopes: family.scopes.clone(),
            audience: family.resource.clone(),
            issued_at: now,
            expires_at: now.saturating_add(i64::try_from(ttl).unwrap_or(i64::MAX)),
        };
        let jwt_for = family.resource.as_deref().filter(|uri| {
            provider
                .find_resource(uri)
                .is_some_and(crate::Resource::issues_jwt_access_tokens)
        });
        let access_token = match jwt_for {
            Some(audience) => {
                let claims = access_jwt::Claims {
                    iss: self.issuer.clone(),
                    sub: family
                        .user_id
                        .map_or_else(|| family.client_id.clone(), |id| id.to_string()),
                    aud: audience.to_owned(),
                    client_id: family.client_id.clone(),
                    scope: family.scopes.join(" "),
                    iat: record.issued_at,
                    exp: record.expires_at,
                    jti: secret(""),
                    auth_time: family.user_id.map(|_| family.auth_time),
                };
                let token = access_jwt::sign(&self.config, &claims)?;
                self.access.put(&jwt_key(&claims.jti), &record).await?;
                token
            }
            None => {
                let token = secret(ACCESS_PREFIX);
                self.access.put(&token, &record).await?;
                token
            }
        };
        let refresh_token = match refresh {
            true => {
                let token = secret(REFRESH_PREFIX);
                let record = RefreshRecord {
                    family: id.to_owned(),
                };
                self.refresh.put(&token, &record).await?;
                Some(token)
            }
            false => None,
        };
        Ok(Issued {
            access_token,
            refresh_token,
            expires_in: ttl,
            family,
            family_id: id.to_owned(),
        })
    }

    /// Rotates refresh token `token` of client `client_id`: new tokens of its family. A
    /// token used before ends its family ([`Taken::Reused`]); an unknown, ended, or
    /// another client's token is [`Taken::Unknown`].
    pub(crate) async fn rotate(
        &self,
        provider: &Provider,
        token: &str,
        client_id: &str,
    ) -> Result<Taken<Issued>, PowError> {
        if !token.starts_with(REFRESH_PREFIX) || token.len() > 200 {
            return Ok(Taken::Unknown);
        }
        let Some(record) = self.refresh.get::<RefreshRecord>(token).await? else {
            if let Some(family) = self.used_refresh.get::<String>(token).await? {
                self.end_reused(&family).await?;
                return Ok(Taken::Reused);
            }
            return Ok(Taken::Unknown);
        };
        let Some(family) = self.family(&record.family).await? else {
            return Ok(Taken::Unknown);
        };
        if family.client_id != client_id {
            return Ok(Taken::Unknown);
        }
        if self.refresh.take::<RefreshRecord>(token).await?.is_none() {
            // Taken by a concurrent use of the same token: a reuse.
            self.end_reused(&record.family).await?;
            return Ok(Taken::Reused);
        }
        self.used_refresh.put(token, &record.family).await?;
        let issued = self.issue(provider, &record.family, family, true).await?;
        self.unless_reused(issued).await
    }

    /// The family with id `id`, if it has not ended.
    pub(crate) async fn family(&self, id: &str) -> Result<Option<Family>, PowError> {
        Ok(self.families.get(&family_key(id)).await?)
    }

    /// Ends family `id`: every token of it stops working at its next use.
    pub(crate) async fn end_family(&self, id: &str) -> Result<(), PowError> {
        if let Some(user_id) = self.family(id).await?.and_then(|family| family.user_id) {
            self.families.delete(&FAMILIES.key(user_id, id)).await?;
        }
        self.families.delete(&family_key(id)).await?;
        Ok(())
    }

    /// Which record a presented access token names, read without the store: an opaque
    /// token names the record kept under itself; a JWT, once its signature (a key of the
    /// ring, current or retired), `typ`, `iss` and `exp` check out, the record kept under
    /// its `jti`. `None` for anything else.
    fn name(&self, token: &str, now: i64) -> Result<Option<Named>, PowError> {
        if token.starts_with(ACCESS_PREFIX) {
            return Ok((token.len() <= 200).then(|| Named {
                key: token.to_owned(),
                claims: None,
            }));
        }
        let claims = access_jwt::verify(&self.config, &self.issuer, token, now)?;
        Ok(claims.map(|claims| Named {
            key: jwt_key(&claims.jti),
            claims: Some(claims),
        }))
    }

    /// The access token's record, while it and its family are current: the one rule every
    /// reader of an access token (opaque or JWT) goes by.
    pub(crate) async fn access(&self, token: &str) -> Result<Option<AccessRecord>, PowError> {
        self.access_for(token, None).await
    }

    /// [`access`](Self::access), for the resource `audience` only when given: a JWT for
    /// another resource is refused before the store is read.
    pub(crate) async fn access_for(
        &self,
        token: &str,
        audience: Option<&str>,
    ) -> Result<Option<AccessRecord>, PowError> {
        let now = self.config.clock().now_secs();
        let Some(named) = self.name(token, now)? else {
            return Ok(None);
        };
        let wrong_audience =
            |have: Option<&str>| audience.is_some_and(|audience| have != Some(audience));
        if let Some(claims) = &named.claims {
            if wrong_audience(Some(&claims.aud)) {
                return Ok(None);
            }
        }
        let Some(record) = self.access.get::<AccessRecord>(&named.key).await? else {
            return Ok(None);
        };
        if record.expires_at <= now || wrong_audience(record.audience.as_deref()) {
            return Ok(None);
        }
        if let Some(claims) = &named.claims {
            // The claims are the record's, as issued.
            if record.audience.as_deref() != Some(claims.aud.as_str())
                || record.client_id != claims.client_id
            {
                return Ok(None);
            }
        }
        Ok(self.family(&record.family).await?.map(|_| record))
    }

    /// The family of refresh token `token`, if it is current.
    pub(crate) async fn refresh_family(&self, token: &str) -> Result<Option<String>, PowError> {
        if !token.starts_with(REFRESH_PREFIX) || token.len() > 200 {
            return Ok(None);
        }
        let Some(record) = self.refresh.get::<RefreshRecord>(token).await? else {
            return Ok(None);
        };
        Ok(self.family(&record.family).await?.map(|_| record.family))
    }

    /// Ends every family of user `user_id`, or only client `client`'s.
    pub(crate) async fn end_user_families(
        &self,
        user_id: i64,
        client: Option<&str>,
    ) -> Result<(), PowError> {
        let entries = FAMILIES
            .entries::<String>(
                self.config.store().as_ref(),
                self.families.namespace(),
                user_id,
            )
            .await?;
        for (id, of_client) in entries {
            if client.is_none_or(|client| of_client.as_deref() == Some(client)) {
                self.end_family(&id).await?;
            }
        }
        Ok(())
    }
}

/// What a presented access token names.
struct Named {
    /// The key its record is kept under (digested by the store).
    key: String,
    /// A JWT's claims, checked.
    claims: Option<access_jwt::Claims>,
}

/// The key a JWT access token's record is kept under: from its `jti`, with a prefix no
/// opaque token has (so a `jti` presented as a token names nothing).
fn jwt_key(jti: &str) -> String {
    format!("jwt:{jti}")
}

/// The store key of the mark of family `id` as reused.
fn reused_key(id: &str) -> Key {
    Key(vec!["reused".to_owned(), id.to_owned()])
}

/// The store key of family `id`.
fn family_key(id: &str) -> Key {
    Key(vec!["family".to_owned(), id.to_owned()])
}

/// Ends every token of `user_id` (with the provider enabled).
pub(crate) async fn end_user(config: &PowConfig, user_id: i64) -> Result<(), PowError> {
    if let Some(provider) = Provider::of(config) {
        Tokens::new(config, provider)
            .end_user_families(user_id, None)
            .await?;
    }
    Ok(())
}

/// Ends every token of a user whose credentials were revoked (disabled, closed, a password
/// reset, "sign out everywhere").
pub(crate) struct EndOnRevocation;

#[async_trait::async_trait]
impl pow_core::extension::CredentialsRevoked for EndOnRevocation {
    async fn credentials_revoked(&self, config: &PowConfig, user: &User) -> Result<(), PowError> {
        end_user(config, user.id).await
    }
}
