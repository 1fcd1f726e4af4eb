//! [`Extensions`]: the enabled extensions, in order, checked against each other's
//! [`Requirement`]s when the config is built.

use std::collections::BTreeSet;
use std::sync::Arc;

use super::Extension;
use crate::error::PowError;
use crate::users::FieldDef;

/// Something an extension needs from the setup it is enabled in
/// ([`Extension::requirements`]). A setup that breaks one does not start.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Requirement {
    /// A user field with this name must be declared (by the app, the user id, or another
    /// extension).
    UserField(&'static str),
    /// The named extension must be enabled too.
    Extension {
        /// Its name.
        name: &'static str,
        /// Why, for the error message.
        why: &'static str,
    },
    /// When the named extension is enabled too, this one must be listed before it (its
    /// callbacks have to run first).
    Before {
        /// Its name.
        name: &'static str,
        /// Why, for the error message.
        why: &'static str,
    },
    /// When the named extension is enabled too, this one must be listed after it.
    After {
        /// Its name.
        name: &'static str,
        /// Why, for the error message.
        why: &'static str,
    },
}

/// The enabled extensions, in order, with unique names. Built once by the config.
#[derive(Clone, Default)]
pub struct Extensions {
    list: Vec<Arc<dyn Extension>>,
    /// Those of `list` whose `on_request` runs on every request, found once.
    request_handlers: Vec<Arc<dyn Extension>>,
}

impl std::fmt::Debug for Extensions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.names()).finish()
    }
}

impl Extensions {
    /// Checks names are unique.
    ///
    /// # Errors
    /// [`PowError::Config`] naming the duplicate.
    pub fn new(list: Vec<Arc<dyn Extension>>) -> Result<Self, PowError> {
        let mut seen = BTreeSet::new();
        for ext in &list {
            if !seen.insert(ext.name()) {
                return Err(PowError::Config(format!(
                    "extension `{}` is enabled twice; add each extension once",
                    ext.name()
                )));
            }
        }
        let request_handlers = list
            .iter()
            .filter(|ext| ext.handles_requests())
            .cloned()
            .collect();
        Ok(Self {
            list,
            request_handlers,
        })
    }

    /// Checks every extension's [`Requirement`]s against the list and the setup's user
    /// fields.
    ///
    /// # Errors
    /// [`PowError::Config`] for the first requirement broken, saying how to fix it.
    pub fn validate(&self, user_fields: &[FieldDef]) -> Result<(), PowError> {
        let position = |name: &str| self.list.iter().position(|e| e.name() == name);
        for (index, ext) in self.list.iter().enumerate() {
            let me = ext.name();
            for requirement in ext.requirements() {
                match requirement {
                    Requirement::UserField(field) => {
                        if !user_fields.iter().any(|f| f.name == field) {
                            return Err(PowError::Config(format!(
                                "extension `{me}` needs a user field `{field}`: use `{field}` \
                                 as the user id field or declare it with \
                                 PowConfigBuilder::user_field"
                            )));
                        }
                    }
                    Requirement::Extension { name, why } => {
                        if position(name).is_none() {
                            return Err(PowError::Config(format!(
                                "extension `{me}` needs extension `{name}` enabled too ({why}): \
                                 add it with PowConfigBuilder::extension"
                            )));
                        }
                    }
                    Requirement::Before { name, why } => {
                        if position(name).is_some_and(|other| other < index) {
                            return Err(misordered(me, name, why));
                        }
                    }
                    Requirement::After { name, why } => {
                        if position(name).is_some_and(|other| other > index) {
                            return Err(misordered(name, me, why));
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// Iterates in order.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<dyn Extension>> {
        self.list.iter()
    }

    /// Whether no extension is enabled.
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// The extensions whose [`on_request`](Extension::on_request) runs on every request
    /// ([`Extension::handles_requests`]), in order.
    pub fn request_handlers(&self) -> std::slice::Iter<'_, Arc<dyn Extension>> {
        self.request_handlers.iter()
    }

    /// Names in order.
    pub fn names(&self) -> Vec<&'static str> {
        self.list.iter().map(|e| e.name()).collect()
    }

    /// Whether an extension with `name` is enabled.
    pub fn contains(&self, name: &str) -> bool {
        self.list.iter().any(|e| e.name() == name)
    }
}

/// `first` has to be listed before `then`.
fn misordered(first: &str, then: &str, why: &str) -> PowError {
    PowError::Config(format!(
        "extension `{first}` must be listed before `{then}` ({why}): call \
         PowConfigBuilder::extension for `{first}` first"
    ))
}
