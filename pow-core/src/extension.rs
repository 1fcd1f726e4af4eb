//! The extension trait and registry.
//!
//! An extension is a value implementing [`Extension`]; enabling it is adding it to the
//! config with [`PowConfigBuilder::extension`](crate::PowConfigBuilder::extension), in order.
//! Through the trait it contributes user fields and changeset rules, migrations, routes,
//! messages, mail templates and controller callbacks. The core never names an extension.

use std::sync::Arc;

use crate::error::PowError;
use crate::users::{ChangesetHook, FieldDef};

/// Embedded SQL migrations of one crate, one set per database backend.
///
/// Versions order migrations across crates: the core's come first, extensions use later
/// timestamps. Build it with `diesel_migrations::embed_migrations!`.
pub struct Migrations {
    /// Migrations for SQLite.
    pub sqlite: diesel_migrations::EmbeddedMigrations,
    /// Migrations for PostgreSQL.
    pub postgres: diesel_migrations::EmbeddedMigrations,
}

/// A pow-rs extension. Object safe; every method but [`name`](Extension::name) has a
/// default that contributes nothing.
pub trait Extension: Send + Sync + 'static {
    /// Unique name, e.g. `"pow_reset_password"`. Two extensions with one name are refused.
    fn name(&self) -> &'static str;

    /// User columns this extension adds (its migrations create them).
    fn user_fields(&self) -> Vec<FieldDef> {
        Vec::new()
    }

    /// Rules this extension adds to user changesets.
    fn changeset_hook(&self) -> Option<Arc<dyn ChangesetHook>> {
        None
    }

    /// Migrations this extension needs, run after the core's, in extension order.
    fn migrations(&self) -> Option<&'static Migrations> {
        None
    }
}

/// The enabled extensions, in order, with unique names. Built once by the config.
#[derive(Clone, Default)]
pub struct Extensions(Vec<Arc<dyn Extension>>);

impl Extensions {
    /// Checks names are unique.
    ///
    /// # Errors
    /// [`PowError::Config`] naming the duplicate.
    pub fn new(list: Vec<Arc<dyn Extension>>) -> Result<Self, PowError> {
        let mut seen = std::collections::BTreeSet::new();
        for ext in &list {
            if !seen.insert(ext.name()) {
                return Err(PowError::Config(format!(
                    "extension `{}` is enabled twice; add each extension once",
                    ext.name()
                )));
            }
        }
        Ok(Self(list))
    }

    /// Iterates in order.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<dyn Extension>> {
        self.0.iter()
    }

    /// Names in order.
    pub fn names(&self) -> Vec<&'static str> {
        self.0.iter().map(|e| e.name()).collect()
    }

    /// Whether an extension with `name` is enabled.
    pub fn contains(&self, name: &str) -> bool {
        self.0.iter().any(|e| e.name() == name)
    }
}
