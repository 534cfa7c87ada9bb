//! Which registry credentials the environment holds (the plan's problems, `doctor` and the
//! preflight ask the same question).
use std::collections::BTreeMap;

use crate::config::Config;

/// The registry credentials in the environment (variable names from the configuration).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credentials<'a> {
    Both {
        user: &'a str,
        password: &'a str,
    },
    Neither,
    /// One is set: the name of the one that is not.
    OnlyOne {
        missing: &'a str,
    },
}

pub fn credentials<'a>(config: &'a Config, env: &'a BTreeMap<String, String>) -> Credentials<'a> {
    let get = |name: &str| env.get(name).map(String::as_str).filter(|v| !v.is_empty());
    match (get(&config.registry_user_env), get(&config.registry_password_env)) {
        (Some(user), Some(password)) => Credentials::Both { user, password },
        (None, None) => Credentials::Neither,
        (Some(_), None) => Credentials::OnlyOne { missing: &config.registry_password_env },
        (None, Some(_)) => Credentials::OnlyOne { missing: &config.registry_user_env },
    }
}
