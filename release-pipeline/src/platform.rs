//! A platform as docker names it, `os/arch[/variant]` (`linux/amd64`, `linux/arm/v7`): checked
//! once when the configuration is read, a string again only at the edges (command lines, JSON,
//! package manifests).
use std::{borrow::Borrow, fmt, ops::Deref};

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub(crate) struct Platform(String);

impl Platform {
    /// `os/arch` or `os/arch/variant`, each part letters, digits or `_`.
    pub(crate) fn parse(text: &str) -> Result<Platform, String> {
        let parts: Vec<&str> = text.split('/').collect();
        let valid = (2..=3).contains(&parts.len())
            && parts.iter().all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'));
        if valid {
            Ok(Platform(text.to_owned()))
        } else {
            Err(format!("`{text}` is not a platform like linux/amd64 or linux/arm/v7"))
        }
    }

    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Platform {
    type Error = String;
    fn try_from(text: String) -> Result<Platform, String> {
        Platform::parse(&text)
    }
}

impl From<Platform> for String {
    fn from(p: Platform) -> String {
        p.0
    }
}

impl Deref for Platform {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl Borrow<str> for Platform {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl PartialEq<str> for Platform {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for Platform {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

/// Platforms written in the code (defaults, tests): `Platform::from("linux/amd64")`. Panics on
/// a bad one, which only a code change can bring.
impl From<&str> for Platform {
    fn from(text: &str) -> Platform {
        Platform::parse(text).unwrap_or_else(|why| panic!("{why}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platforms() {
        for good in ["linux/amd64", "linux/arm/v7", "windows/amd64", "linux/ppc64le"] {
            assert_eq!(Platform::parse(good).unwrap().as_str(), good);
        }
        for bad in ["linux", "linux/", "/amd64", "linux/arm/v7/x", "linux/amd 64", "linux/arm-64", ""] {
            assert!(Platform::parse(bad).is_err(), "{bad}");
        }
    }
}
