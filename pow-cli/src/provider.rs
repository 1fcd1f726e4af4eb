//! `pow provider clients …`: the OAuth provider's registered clients (the `oauth_clients`
//! table of pow-ext-provider), from the command line.

use std::time::Duration;

use clap::{Args, Subcommand};
use pow_ext_provider::registry::{ClientSpec, Registry, StoredClient};
use pow_ext_provider::{ClientKind, GrantType, Provider, Resource};

use crate::{say, with_setup, Ext, Failure, Setup, Store};

#[derive(Subcommand)]
pub(crate) enum ProviderCommand {
    /// The registered clients (the setup's own clients are in the app's code).
    #[command(subcommand)]
    Clients(Clients),
}

#[derive(Subcommand)]
pub(crate) enum Clients {
    /// List the registered clients: id, kind, name, redirect URIs, last use.
    List(Setup),
    /// Register a client; a confidential client's secret is printed once.
    Add(Add),
    /// Give a confidential client a new secret (printed once); the previous one keeps
    /// working for the overlap.
    RotateSecret {
        #[command(flatten)]
        setup: Setup,
        /// The client's id.
        #[arg(long)]
        id: String,
        /// How long the previous secret keeps working, in hours (0: it ends now).
        #[arg(long, default_value_t = 24)]
        overlap_hours: u64,
        /// How long the new secret works, in days (forever by default).
        #[arg(long)]
        secret_days: Option<u32>,
    },
    /// Remove a client: its secret stops working and the tokens it holds for users end
    /// (give the app's cache store, where they live).
    Remove {
        #[command(flatten)]
        setup: Setup,
        #[command(flatten)]
        store: Store,
        /// The client's id.
        #[arg(long)]
        id: String,
    },
}

#[derive(Args)]
pub(crate) struct Add {
    #[command(flatten)]
    setup: Setup,
    /// Its id (generated when not given).
    #[arg(long)]
    id: Option<String>,
    /// The name the consent page shows.
    #[arg(long)]
    name: Option<String>,
    /// A redirect URI (repeat for more): https, loopback http, or a private-use scheme.
    #[arg(long = "redirect-uri")]
    redirect_uris: Vec<String>,
    /// Where the browser may go back after the client signs the user out (repeat for more).
    #[arg(long = "post-logout-redirect-uri")]
    post_logout_redirect_uris: Vec<String>,
    /// A server that keeps a secret (public, PKCE only, by default).
    #[arg(long)]
    confidential: bool,
    /// The scopes it may ask for (comma-separated; every scope the app offers by default).
    #[arg(long, value_delimiter = ',')]
    scopes: Vec<String>,
    /// Grants besides the authorization code: device-code, client-credentials.
    #[arg(long, value_delimiter = ',')]
    grants: Vec<String>,
    /// A resource it may get tokens for (RFC 8707; repeat for more), one the app declares.
    /// None by default: its tokens are bound to no resource.
    #[arg(long = "resource")]
    resources: Vec<String>,
    /// How long the secret works, in days (forever by default).
    #[arg(long)]
    secret_days: Option<u32>,
}

/// Runs `command`.
pub(crate) fn run(command: ProviderCommand) -> Result<(), Failure> {
    let ProviderCommand::Clients(command) = command;
    // The secrets' keyed hashes are taken under the app's key: under another, no secret
    // printed here would ever match.
    if !std::env::var("SECRET_KEY_BASE").is_ok_and(|secret| !secret.trim().is_empty()) {
        return Err(Failure(
            "set SECRET_KEY_BASE to the app's: client secrets are kept as hashes keyed with it"
                .into(),
        ));
    }
    match command {
        Clients::List(setup) => {
            let clients = in_setup(&setup, &Store::none(), Provider::new(), async |registry| {
                Ok(registry.list().await?)
            })?;
            if clients.is_empty() {
                say!("no registered client");
            }
            for client in clients {
                say!("{}", line(&client));
            }
            Ok(())
        }
        Clients::Add(add) => {
            let grants = add
                .grants
                .iter()
                .map(|name| {
                    GrantType::from_name(&name.replace('-', "_"))
                        .ok_or_else(|| Failure(format!("unknown grant {name}")))
                })
                .collect::<Result<Vec<_>, _>>()?;
            let kind = match add.confidential {
                true => ClientKind::Confidential,
                false => ClientKind::Public,
            };
            let mut spec = ClientSpec::new(kind);
            spec.id = add.id;
            spec.name = add.name;
            spec.redirect_uris = add.redirect_uris;
            spec.post_logout_redirect_uris = add.post_logout_redirect_uris;
            spec.scopes = (!add.scopes.is_empty()).then(|| add.scopes.clone());
            spec.grants = grants.clone();
            spec.resources = add.resources.clone();
            spec.secret_days = add.secret_days;
            // The operator vouches for the scopes and grants named here; the app's own
            // settings still decide what a token carries.
            let provider = add.resources.iter().fold(
                Provider::new()
                    .scopes(add.scopes)
                    .registered_client_grants(grants),
                |provider, uri| provider.resource(Resource::new(uri.clone())),
            );
            let created = in_setup(
                &add.setup,
                &Store::none(),
                provider.clone(),
                async |registry| Ok(registry.register(&provider, spec, false, None).await?),
            )?
            .map_err(|refused| Failure(format!("not registered: {refused}")))?;
            say!("registered {}", line(&created.client));
            if let Some(secret) = created.secret {
                say!("secret (shown once): {secret}");
            }
            Ok(())
        }
        Clients::RotateSecret {
            setup,
            id,
            overlap_hours,
            secret_days,
        } => {
            let overlap = Duration::from_secs(overlap_hours.saturating_mul(3600));
            let secret = in_setup(&setup, &Store::none(), Provider::new(), async |registry| {
                Ok(registry
                    .rotate_secret(&id, overlap, secret_days, None)
                    .await?)
            })?
            .ok_or_else(|| Failure(format!("no confidential client {id}")))?;
            say!("new secret of {id} (shown once): {secret}");
            if overlap_hours > 0 {
                say!("the previous secret works for {overlap_hours} more hours");
            }
            Ok(())
        }
        Clients::Remove { setup, store, id } => {
            if store.redis_url.is_none() && store.sql_store.is_none() {
                return Err(Failure(
                    "give --redis-url or --sql-store: the client's tokens live in the app's \
                     cache store"
                        .into(),
                ));
            }
            let provider = Provider::new();
            let removed = in_setup(&setup, &store, provider.clone(), async |registry| {
                Ok(registry.remove(&provider, &id, None).await?)
            })?;
            match removed {
                true => say!("removed {id}; its tokens have ended"),
                false => return Err(Failure(format!("no registered client {id}"))),
            }
            Ok(())
        }
    }
}

/// Runs `work` on the registry of `setup`'s database, the provider enabled with `provider`'s
/// settings (whether or not `--extensions` names it).
fn in_setup<T>(
    setup: &Setup,
    store: &Store,
    provider: Provider,
    work: impl AsyncFnOnce(&Registry) -> Result<T, Failure>,
) -> Result<T, Failure> {
    let setup = Setup {
        database_url: setup.database_url.clone(),
        extensions: crate::Extensions {
            extensions: setup
                .extensions
                .list()
                .into_iter()
                .filter(|ext| *ext != Ext::Provider)
                .collect(),
        },
    };
    with_setup(
        &setup,
        store,
        |builder| builder.extension(provider),
        async |config| work(&Registry::new(config)?).await,
    )
}

/// A client on one line.
fn line(client: &StoredClient) -> String {
    let kind = match client.kind {
        ClientKind::Public => "public",
        ClientKind::Confidential => "confidential",
    };
    let used = client.last_used_at.map_or_else(
        || "never used".to_owned(),
        |at| format!("last used {}", at.format("%Y-%m-%d")),
    );
    let mut text = format!(
        "{} {kind} \"{}\" {} ({used})",
        client.id,
        client.name.as_deref().unwrap_or(""),
        client.redirect_uris.join(" ")
    );
    if !client.resources.is_empty() {
        text.push_str(&format!("; resources {}", client.resources.join(" ")));
    }
    if let Some(until) = client.previous_secret_until {
        text.push_str(&format!(
            "; previous secret until {}",
            until.format("%Y-%m-%d %H:%M")
        ));
    }
    if let Some(expires) = client.secret_expires_at {
        text.push_str(&format!("; secret expires {}", expires.format("%Y-%m-%d")));
    }
    text
}
