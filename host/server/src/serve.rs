//! `portcullis serve`.

use crate::config::{ListenOverrides, Overrides};
use crate::setup;
use anyhow::{Context, Result};
use portcullis_core::builtin;
use portcullis_core::secret::SecretString;
use portcullis_store::users::NewUser;

/// The name this process's gateway writes into session rows (`terminal`).
const TERMINAL_NAME: &str = "portcullis";

/// Starts everything and runs until SIGINT or SIGTERM.
pub async fn run(common: &Overrides, listen: &ListenOverrides) -> Result<()> {
    let opened = setup::open(common, listen).await?;
    let store = opened.store.clone();
    bootstrap_admin(&store).await?;

    let http = tokio::net::TcpListener::bind(opened.config.http_addr)
        .await
        .with_context(|| {
            format!(
                "cannot listen on {} (in use? choose another with --http-addr)",
                opened.config.http_addr
            )
        })?;
    tracing::info!(addr = %opened.config.http_addr, db = store.backend().name(), "HTTP API listening");
    let ssh = tokio::net::TcpListener::bind(opened.config.ssh_addr)
        .await
        .with_context(|| {
            format!(
                "cannot listen on {} (in use? choose another with --ssh-addr)",
                opened.config.ssh_addr
            )
        })?;
    let host_keys = portcullis_ssh::hostkey::load_or_generate(&opened.config.data_dir)
        .context("the SSH gateway has no host key")?;
    tracing::info!(addr = %opened.config.ssh_addr, keys = ?portcullis_ssh::hostkey::fingerprints(&host_keys), "SSH gateway listening");
    println!(
        "Portcullis {} is serving on http://{} and ssh://{}",
        crate::VERSION,
        opened.config.http_addr,
        opened.config.ssh_addr
    );

    let recordings = opened.config.data_dir.join("recordings");
    let auth = portcullis_auth::Auth::new(store.clone(), opened.vault.clone());
    let engine = portcullis_session::live::Engine::new(
        store.clone(),
        opened.vault.clone(),
        portcullis_session::live::EngineConfig {
            recordings_dir: recordings.clone(),
            terminal_name: TERMINAL_NAME.into(),
            task_poll: std::time::Duration::from_secs(1),
        },
    );
    let orphans = store.close_orphan_sessions(TERMINAL_NAME).await?;
    if orphans > 0 {
        tracing::warn!(
            count = orphans,
            "closed sessions left online by a previous run"
        );
    }
    let poller = tokio::spawn(engine.clone().run_task_poller());
    let gateway = portcullis_ssh::server::Gateway::new(
        engine.clone(),
        auth.clone(),
        portcullis_ssh::server::GatewayConfig {
            host_keys,
            connect_timeout: std::time::Duration::from_secs(10),
            keepalive: Some(std::time::Duration::from_secs(30)),
            title: "Welcome to Portcullis".into(),
            // KoKo's default `LANGUAGE_CODE`; a user's profile `lang` overrides it.
            lang: portcullis_ssh::menu::Lang::En,
        },
    );
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let ssh_address = ssh.local_addr().unwrap_or(opened.config.ssh_addr);
    let ssh_task = tokio::spawn(gateway.serve(ssh, async move {
        let mut rx = stop_rx;
        let _ = rx.wait_for(|stop| *stop).await;
    }));

    let mut state = portcullis_api::AppState::new(store.clone(), auth, crate::VERSION, recordings)
        .with_engine(engine)
        .with_ssh_address(ssh_address)
        .with_page_cache(opened.config.page_cache_bytes);
    if let Some(plugins) = start_plugins(&store, &opened.config.data_dir).await {
        state = state.with_plugins(plugins);
    }
    if !portcullis_web::is_built() {
        tracing::warn!(
            "this binary was built without the web UI (npm was missing); / serves a page saying how to build it"
        );
    }
    let app = portcullis_api::router_with_site(state, portcullis_web::router());
    axum::serve(
        http,
        app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown_signal())
    .await
    .context("the HTTP server stopped")?;
    let _ = stop_tx.send(true);
    match ssh_task.await {
        Ok(Err(e)) => tracing::error!(error = %e, "the SSH gateway stopped with an error"),
        Err(e) => tracing::error!(error = %e, "the SSH gateway task failed"),
        Ok(Ok(())) => {}
    }
    poller.abort();
    store.close().await;
    tracing::info!("stopped");
    Ok(())
}

/// Starts the plugin engine and loads every enabled plugin into its registry, logging one
/// line per plugin with its load time. A plugin that fails to load is logged and marked
/// (`load_error`), and an engine that cannot start leaves the server running without plugins:
/// neither stops the server.
async fn start_plugins(
    store: &portcullis_store::Store,
    data_dir: &std::path::Path,
) -> Option<portcullis_api::plugins::PluginHost> {
    let dir = match crate::plugin_cli::plugins_dir(data_dir) {
        Ok(d) => d,
        Err(e) => {
            tracing::error!(error = %format!("{e:#}"), "plugins are unavailable");
            return None;
        }
    };
    let runtime = match portcullis_plugin::engine::Runtime::new(Default::default()) {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(error = %e, "the plugin engine cannot start; plugins are unavailable");
            return None;
        }
    };
    let host = portcullis_api::plugins::PluginHost::new(runtime, dir);
    match host.load_enabled(store).await {
        Ok(outcomes) => {
            for o in outcomes {
                let ms = o.elapsed.as_secs_f64() * 1000.0;
                match &o.error {
                    None => {
                        tracing::info!(plugin = %o.name, load_ms = format!("{ms:.1}"), recompiled = o.recompiled, "plugin loaded")
                    }
                    Some(e) => {
                        tracing::error!(plugin = %o.name, load_ms = format!("{ms:.1}"), error = %e, "plugin failed to load; it stays enabled but unavailable until fixed")
                    }
                }
            }
        }
        Err(e) => tracing::error!(error = %e, "could not read the enabled plugins"),
    }
    // Enable/disable/upgrade/rollback done with the CLI (or another server) reach this one.
    host.watch(store.clone(), std::time::Duration::from_secs(2));
    Some(host)
}

/// On first start (no users at all), creates `admin` with the password from
/// `PORTCULLIS_ADMIN_PASSWORD`, or a generated one printed once.
async fn bootstrap_admin(store: &portcullis_store::Store) -> Result<()> {
    if store.count_users().await? > 0 {
        return Ok(());
    }
    let (password, generated) = match std::env::var("PORTCULLIS_ADMIN_PASSWORD") {
        Ok(p) if !p.is_empty() => (SecretString::new(p), false),
        _ => (crate::admin::generate_password(), true),
    };
    store
        .create_user(&NewUser {
            username: "admin".into(),
            name: "Administrator".into(),
            email: "admin@example.com".into(),
            password: password.clone(),
            system_role: builtin::SYSTEM_ADMIN_ROLE_ID,
            org_role: Some((builtin::ORG_ADMIN_ROLE_ID, builtin::DEFAULT_ORG_ID)),
            created_by: "System".into(),
            need_update_password: generated,
        })
        .await
        .context("creating the administrator")?;
    if generated {
        println!(
            "Created the administrator `admin` with the password: {}",
            password.expose()
        );
        println!("It is shown only this once; you will be asked to change it at first login.");
    } else {
        println!(
            "Created the administrator `admin` with the password from PORTCULLIS_ADMIN_PASSWORD."
        );
    }
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down");
}
