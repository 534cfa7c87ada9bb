//! An image repository (`[host[:port]/]path`), checked against docker's reference grammar once,
//! so a bad `image` is one clear error in the plan instead of docker's raw message half-way.
use std::fmt;

use crate::newtype::{is_lower_hex, string_newtype};

/// A repository without tag or digest: `127.0.0.1:5000/acme/service`, `ghcr.io/acme/service`,
/// `acme/service` (Docker Hub).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRepository(String);

impl ImageRepository {
    /// Parses `text`, saying what is wrong with it in a sentence.
    pub fn parse(text: &str) -> Result<ImageRepository, String> {
        let bad = |why: &str| Err(format!("the image repository `{text}` {why}"));
        if text.is_empty() {
            return bad("is empty");
        }
        if text.len() > 255 {
            return bad("is longer than 255 characters");
        }
        if text.contains('@') {
            return bad("holds a digest (`@…`): give the repository alone, the pipeline picks the tags");
        }
        let (host, path) = split_host(text);
        if let Some(host) = host {
            if !is_host(host) {
                return bad(&format!("has an invalid registry host `{host}`"));
            }
        }
        for component in path.split('/') {
            if component.contains(':') {
                return bad("holds a tag (`:…`): give the repository alone, the pipeline picks the tags");
            }
            if component.chars().any(|c| c.is_ascii_uppercase()) {
                return bad("must be lowercase (docker refuses upper-case repository names)");
            }
            if !is_path_component(component) {
                return bad(&format!(
                    "has an invalid path component `{component}` (lowercase letters and digits, separated by `.`, `_`, `__` or dashes)"
                ));
            }
        }
        Ok(ImageRepository(text.to_owned()))
    }
}

/// The registry host of a repository or reference (`docker.io` when it names none).
pub fn registry_host(reference: &str) -> &str {
    split_host(reference).0.unwrap_or("docker.io")
}

/// The registry host a docker login of `repository` is kept under: lowercase, and Docker Hub's
/// names as one (docker keeps their logins under one key).
pub fn login_host(repository: &str) -> String {
    match registry_host(repository).to_ascii_lowercase().as_str() {
        "index.docker.io" | "registry-1.docker.io" | "registry.hub.docker.com" => "docker.io".to_owned(),
        host => host.to_owned(),
    }
}

impl fmt::Display for ImageRepository {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A reference to one image by tag (the pipeline copies and reads by tag: version tags never
/// change). Built here, written out as text only where a command takes it (`repo:tag`,
/// skopeo's `docker://repo:tag`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImageRef<'a> {
    pub repository: &'a str,
    pub tag: &'a str,
}

impl<'a> ImageRef<'a> {
    pub fn tag(repository: &'a str, tag: &'a str) -> ImageRef<'a> {
        ImageRef { repository, tag }
    }

    /// skopeo's form: `docker://repo:tag`.
    pub fn transport(&self) -> String {
        format!("docker://{self}")
    }
}

impl fmt::Display for ImageRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.repository, self.tag)
    }
}

string_newtype!(
    /// A manifest digest, `sha256:` and 64 lowercase hex digits.
    Digest,
    |text| match text.strip_prefix("sha256:") {
        Some(hex) if is_lower_hex(hex, 64) => Ok(()),
        _ => Err(format!("`{text}` is not a digest (sha256: and 64 lowercase hex digits)")),
    }
);

impl Digest {
    /// The digest of `bytes` (a manifest's, as the registry holds it).
    pub fn of(bytes: &[u8]) -> Digest {
        Digest(format!("sha256:{}", crate::dist::Sha256::of(bytes)))
    }

    /// The 64 hex digits after `sha256:` (an in-toto subject's `sha256`).
    pub fn hex(&self) -> &str {
        &self.as_str()["sha256:".len()..]
    }

    /// A digest for tests, told apart by `n`: `sha256:` and `n`'s two hex digits, 32 times.
    #[cfg(test)]
    pub fn for_test(n: u8) -> Digest {
        Digest::parse(&format!("sha256:{}", format!("{n:02x}").repeat(32))).expect("64 hex digits")
    }
}

/// What a user's image reference selects in its repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selector {
    Tag(String),
    Digest(Digest),
}

/// A user's image reference, `repo:tag` or `repo@sha256:…` (no tag means `latest`, as docker
/// reads it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRef {
    pub repository: ImageRepository,
    pub selector: Selector,
}

impl UserRef {
    pub fn parse(text: &str) -> Result<UserRef, String> {
        let (name, selector) = match text.split_once('@') {
            Some((name, digest)) => {
                let digest = Digest::parse(digest).map_err(|e| format!("`{text}`: {e}"))?;
                (name, Selector::Digest(digest))
            }
            None => match text.rsplit_once(':').filter(|(_, tag)| !tag.contains('/')) {
                Some((name, tag)) => {
                    let valid = tag.len() <= 128
                        && tag.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_')
                        && tag.chars().all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
                    if !valid {
                        return Err(format!("`{text}`: `{tag}` is not an image tag"));
                    }
                    (name, Selector::Tag(tag.to_owned()))
                }
                None => (text, Selector::Tag("latest".to_owned())),
            },
        };
        Ok(UserRef { repository: ImageRepository::parse(name)?, selector })
    }
}

impl fmt::Display for UserRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.selector {
            Selector::Tag(tag) => write!(f, "{}:{tag}", self.repository),
            Selector::Digest(digest) => write!(f, "{}@{digest}", self.repository),
        }
    }
}

/// Docker's rule: the first component is a host when it has a `.` or a `:`, or is `localhost`,
/// and more components follow.
fn split_host(text: &str) -> (Option<&str>, &str) {
    match text.split_once('/') {
        Some((first, rest)) if first.contains(['.', ':']) || first == "localhost" => (Some(first), rest),
        _ => (None, text),
    }
}

/// Registries reached without TLS verification: those whose host, without its port, is
/// `localhost`, an IPv4 address in 127.0.0.0/8 or `::1` (what docker itself treats as insecure).
/// A name that only looks local (`localhost.example.com`, `127.attacker.example`) is not.
pub fn is_loopback_registry(host: &str) -> bool {
    host_name(host).is_some_and(|(name, _)| {
        name.eq_ignore_ascii_case("localhost")
            || name.parse::<std::net::Ipv4Addr>().is_ok_and(|ip| ip.is_loopback())
            || name.parse::<std::net::Ipv6Addr>().is_ok_and(|ip| ip.is_loopback())
    })
}

fn is_host(host: &str) -> bool {
    let Some((name, bracketed)) = host_name(host) else { return false };
    if bracketed {
        return name.parse::<std::net::Ipv6Addr>().is_ok();
    }
    let label_ok = |l: &str| {
        !l.is_empty()
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    };
    name.split('.').all(label_ok)
}

/// A registry host without its port (`[::1]:5000` → `::1`, bracketed; `h.example:5000` →
/// `h.example`); `None` when the port or the brackets are malformed.
fn host_name(host: &str) -> Option<(&str, bool)> {
    let (name, port, bracketed) = match host.strip_prefix('[') {
        Some(rest) => {
            let (inside, after) = rest.split_once(']')?;
            let port = if after.is_empty() { None } else { Some(after.strip_prefix(':')?) };
            (inside, port, true)
        }
        None => match host.split_once(':') {
            Some((name, port)) => (name, Some(port), false),
            None => (host, None, false),
        },
    };
    port.is_none_or(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) && p.parse::<u16>().is_ok())
        .then_some((name, bracketed))
}

/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`
fn is_path_component(c: &str) -> bool {
    let bytes = c.as_bytes();
    if bytes.is_empty() || !bytes[0].is_ascii_alphanumeric() || !bytes[bytes.len() - 1].is_ascii_alphanumeric() {
        return false;
    }
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b.is_ascii_lowercase() || b.is_ascii_digit() {
            i += 1;
            continue;
        }
        let run = bytes[i..].iter().take_while(|b| !(b.is_ascii_lowercase() || b.is_ascii_digit())).count();
        let sep = &c[i..i + run];
        if !(sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|b| b == b'-')) {
            return false;
        }
        i += run;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_references() {
        let digest = format!("sha256:{}", "ab".repeat(32));
        let by_digest = UserRef::parse(&format!("127.0.0.1:5000/acme/service@{digest}")).unwrap();
        assert_eq!(by_digest.repository.to_string(), "127.0.0.1:5000/acme/service");
        assert_eq!(by_digest.selector, Selector::Digest(Digest::parse(&digest).unwrap()));
        let by_tag = UserRef::parse("127.0.0.1:5000/acme/service:rpi-1.2.3").unwrap();
        assert_eq!(by_tag.selector, Selector::Tag("rpi-1.2.3".into()));
        assert_eq!(by_tag.to_string(), "127.0.0.1:5000/acme/service:rpi-1.2.3");
        assert_eq!(UserRef::parse("127.0.0.1:5000/acme/service").unwrap().selector, Selector::Tag("latest".into()));
        for bad in ["r/s@sha256:abc", "r/s@md5:00", "r/s:.bad", "R/S:1", ""] {
            assert!(UserRef::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn digests() {
        let hex = "0123456789abcdef".repeat(4);
        let digest = Digest::parse(&format!("sha256:{hex}")).unwrap();
        assert_eq!((digest.as_str(), digest.hex()), (format!("sha256:{hex}").as_str(), hex.as_str()));
        for bad in [
            hex.clone(),
            format!("sha256:{}", hex.to_uppercase()),
            format!("sha256:{hex}0"),
            format!("sha512:{hex}"),
            "sha256:".to_owned(),
        ] {
            let err = Digest::parse(&bad).unwrap_err();
            assert!(err.ends_with("is not a digest (sha256: and 64 lowercase hex digits)"), "{bad}: {err}");
        }
    }

    #[test]
    fn repositories() {
        for ok in [
            "acme/service",
            "service",
            "127.0.0.1:5000/acme/service",
            "ghcr.io/acme/my-service",
            "localhost/x",
            "[::1]:5000/a/b",
            "a/b__c/d.e-f",
        ] {
            assert!(ImageRepository::parse(ok).is_ok(), "{ok}");
        }
        for (bad, why) in [
            ("Acme/Service", "lowercase"),
            ("acme/service:1.0", "holds a tag"),
            ("127.0.0.1:5000/acme/service:latest", "holds a tag"),
            ("acme/service@sha256:abc", "digest"),
            ("", "empty"),
            ("acme//service", "invalid path component"),
            ("acme/-service", "invalid path component"),
            ("acme/service_", "invalid path component"),
            ("bad_host.example:5000/x", "invalid registry host"),
            ("host.example:99999/x", "invalid registry host"),
        ] {
            let err = ImageRepository::parse(bad).unwrap_err();
            assert!(err.contains(why), "{bad}: {err}");
        }
        assert_eq!(registry_host("127.0.0.1:5000/acme/service"), "127.0.0.1:5000");
        assert_eq!(registry_host("acme/service"), "docker.io");
        assert_eq!(registry_host("localhost/x"), "localhost");
    }
}
