//! Release notes, from plain data: the commits since a service's previous release tag (the
//! library's `notes.rs` reads them from git), grouped by their Conventional Commits type when
//! the subject follows it (parsed by `git-conventional`, never by hand): breaking changes first,
//! then features, fixes, and everything else under "Other"; merge commits left out; each line
//! with its short commit id. Rendered as markdown (`dist/RELEASE_NOTES.md`, `cargo xtask notes`)
//! and as JSON ([`ReleaseNotes`]: `docs/schemas/notes.schema.json`, the predicate of the notes'
//! attestation).
use semver::Version;
use serde::{Deserialize, Serialize};

use crate::commit::CommitId;

/// The predicate type of the notes' attestation on a signed image (`cosign attest --type`).
pub const NOTES_TYPE: &str = "https://release-pipeline.dev/release-notes/v1";

/// How many lines of the notes `verify` prints.
pub const FIRST_LINES: usize = 12;

/// One commit, as git gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitFacts {
    pub id: CommitId,
    /// The first paragraph, on one line.
    pub subject: String,
    /// The rest of the message, if any.
    pub body: String,
    /// More than one: a merge, left out of the notes.
    pub parents: usize,
}

/// The groups of the notes, in the order they are shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Group {
    /// A commit marked breaking (`feat!:`, or a `BREAKING CHANGE:` footer), whatever its type.
    Breaking,
    /// `feat`.
    Features,
    /// `fix`.
    Fixes,
    /// Every other type, and every subject that is no Conventional Commit.
    Other,
}

impl Group {
    pub const ALL: [Group; 4] = [Group::Breaking, Group::Features, Group::Fixes, Group::Other];

    pub fn title(self) -> &'static str {
        match self {
            Group::Breaking => "Breaking changes",
            Group::Features => "Features",
            Group::Fixes => "Fixes",
            Group::Other => "Other",
        }
    }
}

/// One line of the notes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub commit: CommitId,
    /// The subject as written.
    pub subject: String,
    /// The Conventional Commits type (`feat`, `docs`), when the subject follows the format.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub scope: Option<String>,
    /// The subject's description (after `type(scope): `), or the whole subject.
    pub description: String,
    /// What breaks, as the commit's `BREAKING CHANGE:` footer says it, when it does.
    pub breaking: Option<String>,
}

/// The entries of one group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Section {
    pub group: Group,
    pub entries: Vec<Entry>,
}

/// A release's notes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReleaseNotes {
    /// The service, when the workspace has several (each with its own notes).
    pub service: Option<String>,
    pub version: Version,
    /// The previous release's tag; `None`: no release before, every commit counts.
    pub since: Option<String>,
    /// How many commits the notes list (merges left out).
    pub commits: usize,
    /// The groups that have entries, in [`Group::ALL`]'s order.
    pub sections: Vec<Section>,
}

impl ReleaseNotes {
    /// The notes of `version` from `commits` (newest first, as git walks them): each commit in
    /// its group, in the order given; merges left out.
    pub fn new(service: Option<String>, version: Version, since: Option<String>, commits: &[CommitFacts]) -> Self {
        let entries: Vec<(Group, Entry)> = commits.iter().filter(|c| c.parents <= 1).map(entry).collect();
        let sections = Group::ALL
            .into_iter()
            .map(|group| Section {
                group,
                entries: entries.iter().filter(|(g, _)| *g == group).map(|(_, e)| e.clone()).collect(),
            })
            .filter(|section| !section.entries.is_empty())
            .collect();
        ReleaseNotes { service, version, since, commits: entries.len(), sections }
    }

    /// The notes as markdown: a heading with the version, how many commits since which tag, then
    /// each group's lines.
    pub fn markdown(&self) -> String {
        use std::fmt::Write;
        let mut out = String::new();
        let name = self.service.as_ref().map(|s| format!("{s} ")).unwrap_or_default();
        let _ = writeln!(out, "## {name}{}\n", self.version);
        let since = match &self.since {
            Some(tag) => format!("since {tag}"),
            None => "since the first commit (no release before)".to_owned(),
        };
        let _ = writeln!(out, "{} commit(s) {since}.", self.commits);
        for section in &self.sections {
            let _ = writeln!(out, "\n### {}\n", section.group.title());
            for entry in &section.entries {
                let line = match (section.group, &entry.scope) {
                    (Group::Other, _) => entry.subject.clone(),
                    (_, Some(scope)) => format!("**{scope}:** {}", entry.description),
                    (_, None) => entry.description.clone(),
                };
                let _ = writeln!(out, "- {line} ({})", entry.commit.short());
                if let Some(breaking) = entry.breaking.as_ref().filter(|b| **b != entry.description) {
                    let _ = writeln!(out, "  - BREAKING CHANGE: {breaking}");
                }
            }
        }
        out
    }

    /// The first `n` lines of the markdown that say something (`verify` prints them).
    pub fn first_lines(&self, n: usize) -> Vec<String> {
        self.markdown().lines().filter(|l| !l.trim().is_empty()).take(n).map(str::to_owned).collect()
    }
}

/// A commit's group and line: its Conventional Commits type when its message follows the format,
/// else "Other" with the subject as it is.
fn entry(commit: &CommitFacts) -> (Group, Entry) {
    let message = match commit.body.trim() {
        "" => commit.subject.clone(),
        body => format!("{}\n\n{body}", commit.subject),
    };
    let plain = Entry {
        commit: commit.id,
        subject: commit.subject.clone(),
        kind: None,
        scope: None,
        description: commit.subject.clone(),
        breaking: None,
    };
    let Ok(parsed) = git_conventional::Commit::parse(&message) else { return (Group::Other, plain) };
    let group = if parsed.breaking() {
        Group::Breaking
    } else if parsed.type_() == git_conventional::Type::FEAT {
        Group::Features
    } else if parsed.type_() == git_conventional::Type::FIX {
        Group::Fixes
    } else {
        Group::Other
    };
    let entry = Entry {
        kind: Some(parsed.type_().as_str().to_owned()),
        scope: parsed.scope().map(|s| s.as_str().to_owned()),
        description: parsed.description().to_owned(),
        breaking: parsed.breaking().then(|| parsed.breaking_description().unwrap_or_default().to_owned()),
        ..plain
    };
    (group, entry)
}

#[cfg(test)]
mod tests {
    use super::*;
    use expect_test::{expect, expect_file};

    fn commit(n: u8, subject: &str, body: &str, parents: usize) -> CommitFacts {
        CommitFacts {
            id: CommitId::parse(&format!("{n:02x}").repeat(20)).unwrap(),
            subject: subject.to_owned(),
            body: body.to_owned(),
            parents,
        }
    }

    /// A history of every kind of subject, newest first.
    fn history() -> Vec<CommitFacts> {
        vec![
            commit(9, "Merge branch 'feature/x'", "", 2),
            commit(8, "feat(api)!: drop the v1 routes", "", 1),
            commit(7, "fix: keep the port when --port is 0", "", 1),
            commit(6, "docs: say how to run a dev release", "", 1),
            commit(5, "update the README", "", 1),
            commit(4, "feat: a /metrics route", "Counts requests.\n\nBREAKING CHANGE: /stats is gone", 1),
            commit(3, "feat(cli): --quiet", "", 1),
            commit(2, "Fix: a crash on an empty body", "", 1),
            commit(1, "chore(deps): bump tiny_http", "", 1),
        ]
    }

    #[test]
    fn commits_are_grouped_breaking_first_merges_left_out() {
        let notes = ReleaseNotes::new(None, Version::new(1, 3, 0), Some("v1.2.3".into()), &history());
        expect![[r#"
            ## 1.3.0

            8 commit(s) since v1.2.3.

            ### Breaking changes

            - **api:** drop the v1 routes (080808080808)
            - a /metrics route (040404040404)
              - BREAKING CHANGE: /stats is gone

            ### Features

            - **cli:** --quiet (030303030303)

            ### Fixes

            - keep the port when --port is 0 (070707070707)
            - a crash on an empty body (020202020202)

            ### Other

            - docs: say how to run a dev release (060606060606)
            - update the README (050505050505)
            - chore(deps): bump tiny_http (010101010101)
        "#]]
        .assert_eq(&notes.markdown());
        assert_eq!(notes.first_lines(3), ["## 1.3.0", "8 commit(s) since v1.2.3.", "### Breaking changes"]);
    }

    #[test]
    fn a_subject_without_a_type_goes_under_other() {
        let notes = ReleaseNotes::new(None, Version::new(0, 1, 0), None, &[commit(1, "first: ", "", 0)]);
        let notes2 = ReleaseNotes::new(None, Version::new(0, 1, 0), None, &[commit(2, "initial import", "", 0)]);
        assert_eq!(notes.sections[0].group, Group::Other);
        assert_eq!(notes2.sections[0].group, Group::Other);
        assert_eq!(notes2.sections[0].entries[0].kind, None);
        expect![[r#"
            ## 0.1.0

            1 commit(s) since the first commit (no release before).

            ### Other

            - initial import (020202020202)
        "#]]
        .assert_eq(&notes2.markdown());
    }

    #[test]
    fn a_service_of_several_is_named_and_no_commits_say_so() {
        let notes = ReleaseNotes::new(
            Some("spark".into()),
            Version::parse("1.2.4-dev.0").unwrap(),
            Some("spark-v1.2.3".into()),
            &[],
        );
        expect![[r#"
            ## spark 1.2.4-dev.0

            0 commit(s) since spark-v1.2.3.
        "#]]
        .assert_eq(&notes.markdown());
    }

    /// The JSON the attestation and `notes --format json` carry: `docs/schemas/notes.schema.json`
    /// is checked against this example (`xtask/tests/schemas.rs`).
    #[test]
    fn the_json_form_reads_back() {
        let notes = ReleaseNotes::new(Some("service".into()), Version::new(1, 3, 0), Some("v1.2.3".into()), &history());
        let json = serde_json::to_string_pretty(&notes).unwrap();
        expect_file!["../docs/schemas/examples/notes.json"].assert_eq(&(json.clone() + "\n"));
        let back: ReleaseNotes = serde_json::from_str(&json).unwrap();
        assert_eq!(back, notes);
    }
}
