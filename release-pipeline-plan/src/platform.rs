//! A platform as docker names it, `os/arch[/variant]` (`linux/amd64`, `linux/arm/v7`), and a
//! target triple as rustc names it (`x86_64-unknown-linux-musl`): checked once when they come in
//! (the configuration, a part's result, a package's manifest, a registry's answer), a string
//! again only at the edges (command lines, JSON, file names).
use std::ops::Deref;

use crate::newtype::string_newtype;

string_newtype!(
    /// `os/arch` or `os/arch/variant`, each part letters, digits or `_`.
    Platform,
    |text| {
        let parts: Vec<&str> = text.split('/').collect();
        let valid = (2..=3).contains(&parts.len())
            && parts.iter().all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'));
        if valid {
            Ok(())
        } else {
            Err(format!("`{text}` is not a platform like linux/amd64 or linux/arm/v7"))
        }
    }
);

impl Deref for Platform {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

/// Platforms written in the code (defaults, tests): `Platform::from("linux/amd64")`. Panics on
/// a bad one, which only a code change can bring.
impl From<&str> for Platform {
    fn from(text: &str) -> Platform {
        Platform::parse(text).unwrap_or_else(|why| panic!("{why}"))
    }
}

string_newtype!(
    /// A target triple: `-`-separated words of lowercase letters, digits, `_` and `.` (rustc's
    /// `thumbv8m.main-none-eabi`, cargo-zigbuild's `x86_64-unknown-linux-gnu.2.17`), the first
    /// not starting with `.`. It names files (`dist/part-<target>.json`) and directories
    /// (`target/<target>/`), so it holds no `/` and never starts with `-`.
    TargetTriple,
    |text| {
        let word = |w: &str| !w.is_empty() && w.bytes().all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'_' | b'.'));
        let mut words = text.split('-');
        if words.clone().count() >= 2 && words.all(word) && !text.starts_with('.') {
            Ok(())
        } else {
            Err(format!("`{text}` is not a target triple like x86_64-unknown-linux-musl"))
        }
    }
);

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

    #[test]
    fn target_triples() {
        for good in [
            "x86_64-unknown-linux-musl",
            "armv7-unknown-linux-gnueabihf",
            "thumbv8m.main-none-eabi",
            "x86_64-unknown-linux-gnu.2.17",
            "wasm32-wasip1",
        ] {
            assert_eq!(TargetTriple::parse(good).unwrap().as_str(), good);
        }
        for bad in [
            "",
            "x86_64",
            "-x86_64-linux",
            "x86_64--linux",
            "x86_64-linux-",
            "X86_64-unknown-linux-musl",
            "../x-y",
            "x86_64-unknown-linux-musl/..",
            ".x-y",
            "x86_64 unknown-linux",
            "x86_64-unknown-linux-musl\n",
        ] {
            let err = TargetTriple::parse(bad).unwrap_err();
            assert!(err.ends_with("is not a target triple like x86_64-unknown-linux-musl"), "{bad:?}: {err}");
        }
    }
}
