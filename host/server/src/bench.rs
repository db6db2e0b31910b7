//! `portcullis bench`: measures the permission engine; filled in with the store's loader.

use crate::config::Overrides;
use anyhow::Result;

/// Options for the benchmark.
#[derive(Debug, Clone, clap::Args)]
pub struct BenchOptions {}

/// Runs the benchmark.
pub async fn run(_common: &Overrides, _options: BenchOptions) -> Result<()> {
    anyhow::bail!("the benchmark is not wired yet")
}
