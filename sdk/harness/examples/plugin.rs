//! The authoring commands without the server: `cargo run --release -p
//! portcullis-plugin-harness --example plugin -- new|build|test|conformance ...`, the same
//! as `portcullis plugin new|build|test|conformance`. Handy while the server does not build,
//! and release-built it compiles Python and JavaScript components in seconds, not minutes.

use clap::Parser;
use portcullis_plugin_harness::cli::{self, DevCommand};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "plugin",
    about = "Portcullis plugin authoring: new, build, test, conformance"
)]
struct Args {
    #[command(subcommand)]
    command: DevCommand,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(cli::run(args.command)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
