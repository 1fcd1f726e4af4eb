//! Extensions on actix-web: an extension's routes and JSON side, registered in its
//! [`Extension::build`] through [`ActixExtensionBuilder`]. The engine's extension
//! contract (`pow_actix::extension`) is re-exported here.

use std::sync::Arc;

use actix_web::web::ServiceConfig;

use crate::api::ApiExtension;
use crate::config::PowConfig;
#[doc(no_inline)]
pub use pow_core::extension::*;

/// Registers the actix routes of an extension (see [`ExtensionBuilder::routes`]).
pub type RoutesFn = dyn Fn(&mut ServiceConfig, &PowConfig) + Send + Sync;

/// What an extension registered for the actix layer (its side, see
/// [`ExtensionBuilder::side`]).
#[derive(Default)]
struct ActixSide {
    routes: Vec<Arc<RoutesFn>>,
    api: Vec<Arc<dyn ApiExtension>>,
}

/// An extension's actix registrations, called in its [`Extension::build`]:
///
/// ```
/// use actix_web::{web, HttpResponse};
/// use pow_actix::extension::{ActixExtensionBuilder, Extension, ExtensionBuilder};
///
/// struct Hello;
///
/// impl Extension for Hello {
///     fn name(&self) -> &'static str {
///         "hello"
///     }
///
///     fn build(&self, ext: &mut ExtensionBuilder) {
///         ext.routes(|cfg, _config| {
///             cfg.route("/hello", web::get().to(HttpResponse::Ok));
///         });
///     }
/// }
/// ```
pub trait ActixExtensionBuilder {
    /// Registers the extension's routes; called by [`crate::web::configure`].
    fn routes(
        &mut self,
        routes: impl Fn(&mut ServiceConfig, &PowConfig) + Send + Sync + 'static,
    ) -> &mut Self;

    /// The extension's JSON side: enabling the extension in the config enables it for the
    /// API ([`crate::api::configure`]) too.
    fn api(&mut self, api: impl ApiExtension) -> &mut Self;
}

impl ActixExtensionBuilder for ExtensionBuilder {
    fn routes(
        &mut self,
        routes: impl Fn(&mut ServiceConfig, &PowConfig) + Send + Sync + 'static,
    ) -> &mut Self {
        self.side::<ActixSide>().routes.push(Arc::new(routes));
        self
    }

    fn api(&mut self, api: impl ApiExtension) -> &mut Self {
        self.side::<ActixSide>().api.push(Arc::new(api));
        self
    }
}

/// The enabled extensions' actix registrations.
pub trait ActixExtensions {
    /// The route registrations, in extension order.
    fn routes(&self) -> impl Iterator<Item = &Arc<RoutesFn>>;

    /// The JSON sides, in extension order.
    fn api(&self) -> impl Iterator<Item = &Arc<dyn ApiExtension>>;
}

impl ActixExtensions for Extensions {
    fn routes(&self) -> impl Iterator<Item = &Arc<RoutesFn>> {
        self.sides::<ActixSide>()
            .flat_map(|side| side.routes.iter())
    }

    fn api(&self) -> impl Iterator<Item = &Arc<dyn ApiExtension>> {
        self.sides::<ActixSide>().flat_map(|side| side.api.iter())
    }
}
