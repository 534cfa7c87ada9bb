//! `CommitId`: a commit as the plan, a part, a manifest and a provenance name it.
use crate::newtype::{is_lower_hex, string_newtype};

/// A commit id: its 40 lowercase hex digits, as git writes it (the plan's commit, a part's, a
/// package manifest's, a provenance's). `Copy`: kept as its digits, not as a `String`.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CommitId([u8; 40]);

impl CommitId {
    /// `text` as a commit id, or why it is not one.
    pub fn parse(text: &str) -> Result<CommitId, String> {
        match <[u8; 40]>::try_from(text.as_bytes()) {
            Ok(digits) if is_lower_hex(text, 40) => Ok(CommitId(digits)),
            _ => Err(format!("`{text}` is not a commit id (40 lowercase hex digits)")),
        }
    }

    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).expect("checked: ASCII hex digits")
    }

    /// The commit as people read it: its first 12 hex digits (as `plan::short` writes it).
    pub fn short(&self) -> &str {
        &self.as_str()[..12]
    }
}

string_newtype!(@impls CommitId);
