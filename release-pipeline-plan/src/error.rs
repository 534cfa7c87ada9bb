//! Errors with a `help:` line, as the library prints them (`error.rs` of the library).
use std::fmt;

/// An error that tells the user what to do about it. Attach with [`with_help`] or create with
/// [`error_with_help`]; `report_error` prints it as `help: …` after the error chain.
#[derive(Debug)]
pub struct Help(pub String);

impl fmt::Display for Help {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for Help {}

/// `error: {msg}` followed by `help: {help}`.
pub fn error_with_help(msg: impl fmt::Display, help: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(Help(help.into())).context(msg.to_string())
}

/// `error: {headline}:` with one `  - problem` line each, then `help: {help}`: every problem at
/// once.
pub fn problems_error(headline: impl fmt::Display, problems: &[String], help: impl Into<String>) -> anyhow::Error {
    error_with_help(format!("{headline}:\n  - {}", problems.join("\n  - ")), help)
}
