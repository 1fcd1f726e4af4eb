//! The pow-rs guides, one module per guide. The markdown files live next to this crate
//! (`guides/*.md`) and read well on their own; including them here makes `cargo test`
//! compile (and, unless marked `no_run`, run) every Rust code block they contain.
//!
//! Start with [`getting_started`].

#[doc = include_str!("../getting-started.md")]
pub mod getting_started {}

#[doc = include_str!("../configuration.md")]
pub mod configuration {}

#[doc = include_str!("../reset-password.md")]
pub mod reset_password {}

#[doc = include_str!("../email-confirmation.md")]
pub mod email_confirmation {}

#[doc = include_str!("../persistent-session.md")]
pub mod persistent_session {}

#[doc = include_str!("../invitation.md")]
pub mod invitation {}

#[doc = include_str!("../cache-stores.md")]
pub mod cache_stores {}

#[doc = include_str!("../api.md")]
pub mod api {}

#[doc = include_str!("../spa-and-mobile.md")]
pub mod spa_and_mobile {}

#[doc = include_str!("../i18n.md")]
pub mod i18n {}

#[doc = include_str!("../routes-messages-pages.md")]
pub mod routes_messages_pages {}

#[doc = include_str!("../custom-controllers.md")]
pub mod custom_controllers {}

#[doc = include_str!("../user-roles-and-fields.md")]
pub mod user_roles_and_fields {}

#[doc = include_str!("../multiple-setups.md")]
pub mod multiple_setups {}

#[doc = include_str!("../multitenancy.md")]
pub mod multitenancy {}

#[doc = include_str!("../reload.md")]
pub mod reload {}

#[doc = include_str!("../mailer.md")]
pub mod mailer {}

#[doc = include_str!("../testing.md")]
pub mod testing {}

#[doc = include_str!("../production-checklist.md")]
pub mod production_checklist {}

#[doc = include_str!("../migrating-from-pow.md")]
pub mod migrating_from_pow {}

#[doc = include_str!("../abuse-protection.md")]
pub mod abuse_protection {}

#[doc = include_str!("../audit-log.md")]
pub mod audit_log {}

#[doc = include_str!("../cli.md")]
pub mod cli {}

#[doc = include_str!("../sessions.md")]
pub mod sessions {}

#[doc = include_str!("../two-factor.md")]
pub mod two_factor {}

#[doc = include_str!("../passwordless.md")]
pub mod passwordless {}

#[doc = include_str!("../oauth.md")]
pub mod oauth {}

#[doc = include_str!("../writing-an-extension.md")]
pub mod writing_an_extension {}

#[doc = include_str!("../account.md")]
pub mod account {}

#[doc = include_str!("../passkeys.md")]
pub mod passkeys {}

#[doc = include_str!("../api-keys.md")]
pub mod api_keys {}

#[doc = include_str!("../organizations.md")]
pub mod organizations {}

#[doc = include_str!("../provider.md")]
pub mod provider {}

#[doc = include_str!("../sso.md")]
pub mod sso {}

#[doc = include_str!("../scim.md")]
pub mod scim {}

#[doc = include_str!("../axum.md")]
pub mod on_axum {}
