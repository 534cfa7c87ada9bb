//! The one macro for the pipeline's string vocabulary (digests, platforms, commits, target
//! triples, checksums): text checked once where it comes in, a type from then on, and the same
//! text again at the edges (JSON, command lines, file names).
//!
//! `string_newtype!` declares `struct Name(String)` with `parse`, `as_str`, and the impls every
//! such type has; `string_newtype!(@impls Name)` gives the impls alone to a type stored another
//! way (`CommitId` is `Copy`) that has `parse(&str) -> Result<Name, String>` and `as_str`.
//! Each gets: serde as the bare string (checked when read, so a bad value is an error naming
//! it, never a value), `Display`, `Debug` as the string's, `FromStr`, `AsRef<str>`,
//! `TryFrom<String>`, `String: From`, and `==` with `str`.

/// Declares a checked string newtype; `$check` says why a text is not one (`Err(sentence)`).
macro_rules! string_newtype {
    ($(#[$meta:meta])* $name:ident, $check:expr) => {
        $(#[$meta])*
        #[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(String);

        impl $name {
            /// `text` as this type, or why it is not one, in a sentence.
            pub fn parse(text: &str) -> Result<$name, String> {
                let check: fn(&str) -> Result<(), String> = $check;
                check(text).map(|()| $name(text.to_owned()))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl std::borrow::Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        $crate::newtype::string_newtype!(@impls $name);
    };
    (@impls $name:ident) => {
        /// As its text: `"linux/amd64"`, in a message as in a failed assertion.
        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                std::fmt::Debug::fmt(self.as_str(), f)
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = String;
            fn from_str(text: &str) -> Result<$name, String> {
                $name::parse(text)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                self.as_str()
            }
        }

        impl TryFrom<String> for $name {
            type Error = String;
            fn try_from(text: String) -> Result<$name, String> {
                $name::parse(&text)
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> String {
                value.as_str().to_owned()
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.as_str() == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.as_str() == *other
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<$name, D::Error> {
                let text = <std::borrow::Cow<'de, str> as serde::Deserialize>::deserialize(deserializer)?;
                $name::parse(&text).map_err(serde::de::Error::custom)
            }
        }
    };
}

pub(crate) use string_newtype;

/// Whether `text` is `len` lowercase hex digits (how git, docker and `sha256sum` write hashes).
pub fn is_lower_hex(text: &str, len: usize) -> bool {
    text.len() == len && text.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

#[cfg(test)]
mod tests {
    string_newtype!(
        /// A test type: `x-` and more.
        Dashed,
        |text| if text.starts_with("x-") { Ok(()) } else { Err(format!("`{text}` does not start with x-")) }
    );

    #[test]
    fn a_newtype_is_its_text_checked_once() {
        let d = Dashed::parse("x-1").unwrap();
        assert_eq!((d.as_str(), d.to_string(), String::from(d.clone())), ("x-1", "x-1".to_owned(), "x-1".to_owned()));
        assert_eq!("x-1".parse::<Dashed>(), Ok(d.clone()));
        assert_eq!(Dashed::try_from("y".to_owned()), Err("`y` does not start with x-".to_owned()));
        assert!(d == "x-1" && d == *"x-1");
        assert_eq!(serde_json::to_string(&d).unwrap(), r#""x-1""#);
        assert_eq!(format!("{:?}", [&d]), r#"["x-1"]"#);
        assert_eq!(serde_json::from_str::<Dashed>(r#""x-1""#).unwrap(), d);
        // An escaped string is read whole, and a bad one is an error that names it.
        assert_eq!(serde_json::from_str::<Dashed>(r#""x-\u0031""#).unwrap(), d);
        let err = serde_json::from_str::<Dashed>(r#""y-1""#).unwrap_err().to_string();
        assert!(err.starts_with("`y-1` does not start with x-"), "{err}");
        assert!(serde_json::from_str::<Dashed>("1").is_err());
    }

    #[test]
    fn lower_hex() {
        assert!(super::is_lower_hex("0123456789abcdef", 16));
        assert!(!super::is_lower_hex("0123456789ABCDEF", 16));
        assert!(!super::is_lower_hex("0123456789abcdeg", 16));
        assert!(!super::is_lower_hex("00", 3));
    }
}
