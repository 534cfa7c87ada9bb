//! Publishing the crates to a cargo registry.
use std::collections::BTreeMap;

use anyhow::Result;

use crate::{config::Config, ui};

/// cargo's own token variable for a registry: `CARGO_REGISTRIES_<NAME>_TOKEN`.
pub(crate) fn token_var(registry: &str) -> String {
    format!("CARGO_REGISTRIES_{}_TOKEN", registry.to_ascii_uppercase().replace('-', "_"))
}

pub(crate) fn check_token(config: &Config, env: &BTreeMap<String, String>) -> Result<()> {
    let var = token_var(&config.cargo_registry);
    if env.get(&var).is_none_or(|t| t.is_empty()) {
        return Err(ui::error_with_help(
            format!("this plan publishes to the cargo registry `{}`, but {var} is not set", config.cargo_registry),
            format!("set {var} to the registry's token (a CI secret)"),
        ));
    }
    Ok(())
}
