//! `[workspace.metadata.release-pipeline]` read from the workspace's manifest; its types, defaults
//! and validation are `release_pipeline_plan::config`.
use anyhow::{Context, Result};
use camino::Utf8Path;

pub(crate) use release_pipeline_plan::config::*;

/// Reads the table from `<root>/Cargo.toml`; no manifest or no table gives the defaults.
pub(crate) fn load(root: &Utf8Path) -> Result<Config> {
    let path = root.join("Cargo.toml");
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Config::default()),
        Err(e) => return Err(e).with_context(|| format!("reading {path}")),
    };
    Config::parse(&text).with_context(|| format!("invalid [{TABLE}] in {path}"))
}
