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
    credentials_in(&config.registry_user_env, &config.registry_password_env, env)
}

/// The credentials the variables `user_env` and `password_env` hold.
pub fn credentials_in<'a>(
    user_env: &'a str,
    password_env: &'a str,
    env: &'a BTreeMap<String, String>,
) -> Credentials<'a> {
    let get = |name: &str| env.get(name).map(String::as_str).filter(|v| !v.is_empty());
    match (get(user_env), get(password_env)) {
        (Some(user), Some(password)) => Credentials::Both { user, password },
        (None, None) => Credentials::Neither,
        (Some(_), None) => Credentials::OnlyOne { missing: password_env },
        (None, Some(_)) => Credentials::OnlyOne { missing: user_env },
    }
}

/// The names of the variables holding the login for `repository`'s registry: a mirror's own
/// when the repository is on a mirror's host (`mirrors`, the top level's and every service's),
/// else `registry-user-env` and `registry-password-env`. One host has one login (`Config::parse`).
pub fn login_vars_for<'a>(config: &'a Config, repository: &str) -> (&'a str, &'a str) {
    let host = crate::reference::registry_host(repository);
    let mirrors = config.mirrors.iter().chain(config.service.iter().flat_map(|s| s.mirrors.iter().flatten()));
    mirrors
        .filter(|m| crate::reference::registry_host(&m.image) == host)
        .map(|m| (m.user_env.as_str(), m.password_env.as_str()))
        .next()
        .unwrap_or((&config.registry_user_env, &config.registry_password_env))
}
