//! `portcullis`: the bastion host in one binary.
//!
//! `serve` runs everything (REST API, and the listeners as they are built); the other
//! subcommands are the administrator's tools that work on the same data directory and database.

#![cfg_attr(test, allow(clippy::unwrap_used))]

mod admin;
mod bench;
mod bench_plugins;
mod config;
mod keys;
mod plugin_cli;
mod serve;
mod setup;

use clap::{Parser, Subcommand};
use config::{ListenOverrides, Overrides};
use std::process::ExitCode;

/// The version, as printed by `portcullis version` and the health endpoint.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

#[derive(Parser)]
#[command(
    name = "portcullis",
    version,
    about = "Portcullis: bastion host and privileged access management"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server: migrate, seed the built-ins, create the administrator on first start,
    /// and serve the API.
    Serve {
        #[command(flatten)]
        common: Overrides,
        #[command(flatten)]
        listen: ListenOverrides,
    },
    /// Apply database migrations (and seed the built-ins) without serving.
    Migrate {
        #[command(flatten)]
        common: Overrides,
    },
    /// Administrative commands: users and passwords.
    Admin {
        #[command(flatten)]
        common: Overrides,
        #[command(subcommand)]
        action: admin::AdminCommand,
    },
    /// Plugins: install, configure, enable, upgrade, sign and pack.
    Plugin {
        #[command(flatten)]
        common: Overrides,
        #[command(subcommand)]
        action: plugin_cli::PluginCommand,
    },
    /// Master key management.
    Vault {
        #[command(flatten)]
        common: Overrides,
        #[command(subcommand)]
        action: admin::VaultCommand,
    },
    /// Measure the permission engine on a synthetic inventory (see BENCHMARKS.md).
    Bench {
        #[command(flatten)]
        common: Overrides,
        #[command(flatten)]
        options: bench::BenchOptions,
    },
    /// Measure the plugin runtime on the built plugins (see BENCHMARKS.md; use a release build).
    BenchPlugins {
        #[command(flatten)]
        options: bench_plugins::BenchPluginOptions,
    },
    /// Print the version.
    Version,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("PORTCULLIS_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Serve { common, listen } => serve::run(&common, &listen).await,
            Command::Migrate { common } => setup::migrate_only(&common).await,
            Command::Admin { common, action } => admin::run(&common, action).await,
            Command::Vault { common, action } => admin::run_vault(&common, action).await,
            Command::Plugin { common, action } => plugin_cli::run(&common, action).await,
            Command::Bench { common, options } => bench::run(&common, options).await,
            Command::BenchPlugins { options } => bench_plugins::run(options).await,
            Command::Version => {
                println!("portcullis {VERSION}");
                Ok(())
            }
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
