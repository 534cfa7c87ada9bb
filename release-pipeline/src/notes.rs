//! Release notes from git (`release_pipeline_plan::notes` groups and renders them), and `cargo
//! xtask notes [VERSION] [--service NAME] [--format markdown|json]`. The commits are those since
//! the service's previous release tag, found with the version's own tag rules (`version.rs`:
//! the service's `version-tag-prefix`, so one service's notes never end at another's release);
//! with several services, only the commits that change what the service is built from.
use anstream::{print, println};
use anyhow::{bail, Context, Result};
use camino::Utf8Path;
use semver::Version;

use crate::{
    error, flags,
    repo::Repo,
    version::{self, VersionTag},
    workspace::Workspace,
};
use release_pipeline_plan::{
    notes::ReleaseNotes,
    plan::{Kind, ReleasePlan},
};

/// What `--format` asks `notes` to print.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Format {
    Markdown,
    Json,
}

pub(crate) fn run(cmd: flags::Notes, ws: &Workspace) -> Result<()> {
    let format = match cmd.format.as_deref().unwrap_or("markdown") {
        "markdown" => Format::Markdown,
        "json" => Format::Json,
        other => bail!("unknown --format `{other}`: expected markdown or json"),
    };
    let several = ws.config.service.len() > 1;
    let names: Vec<String> = cmd.service.into_iter().collect();
    let mut views = ws.services(&names)?;
    if views.len() > 1 {
        let listed: Vec<&str> = views.iter().map(|v| v.service().name.as_str()).collect();
        return Err(error::error_with_help(
            format!("the workspace has several services ({}), each with its own notes", listed.join(", ")),
            "name one with --service NAME",
        ));
    }
    let view = views.remove(0);
    let notes = match cmd.version.as_deref() {
        Some(text) => {
            let version = Version::parse(text.strip_prefix('v').unwrap_or(text))
                .with_context(|| format!("`{text}` is not a SemVer version"))?;
            of_release(&view, several, &version)?
        }
        None => of_head(&view, several)?,
    };
    match format {
        Format::Markdown => print!("{}", notes.markdown()),
        Format::Json => println!("{}", serde_json::to_string_pretty(&notes).context("serializing the notes")?),
    }
    Ok(())
}

/// The notes a run of `plan` writes: a release's, or a dev release's (since the last release);
/// none for a part (its merge writes them), a build-only or a skipped plan.
pub(crate) fn of_plan(ws: &Workspace, plan: &ReleasePlan, part: bool) -> Result<Option<ReleaseNotes>> {
    if part || !matches!(plan.kind, Kind::Release | Kind::DevRelease) {
        return Ok(None);
    }
    // A view's configuration holds its own service only: the manifest says whether there are others.
    let several = crate::config::load(&ws.root)?.service.len() > 1;
    match plan.kind {
        Kind::Release => of_release(ws, several, &plan.version.semver).map(Some),
        _ => of_head(ws, several).map(Some),
    }
}

/// The notes of the release `version` of a service's view: from its version tag back to the
/// release before it.
fn of_release(view: &Workspace, several: bool, version: &Version) -> Result<ReleaseNotes> {
    let repo = full_history(view)?;
    let tags = version::version_tags(repo, &view.config.version_tag_prefix)?;
    let mut named: Vec<&VersionTag> = tags.iter().filter(|t| t.version == *version).collect();
    named.sort_by(|a, b| a.name.cmp(&b.name));
    let Some(tag) = named.first() else {
        return Err(error::error_with_help(
            format!(
                "no version tag of {version}{} in this repository",
                match view.config.version_tag_prefix.as_str() {
                    "" => String::new(),
                    prefix => format!(" (version-tag-prefix `{prefix}`)"),
                }
            ),
            "fetch the tags (`git fetch --tags`), or name a released version",
        ));
    };
    let commit = repo
        .peel_listed(tag.target, tag.peeled)
        .with_context(|| format!("the tag {} names no commit this clone has", tag.name))?;
    let since = version::previous_release(repo, commit, version, &tags)?;
    notes(view, repo, several, version.clone(), commit, since)
}

/// The notes of the checkout, as a dev release of it writes them: since its base version tag
/// (HEAD on a release tag, clean: that release's notes).
fn of_head(view: &Workspace, several: bool) -> Result<ReleaseNotes> {
    let repo = full_history(view)?;
    let tags = version::version_tags(repo, &view.config.version_tag_prefix)?;
    let info = version::compute_with_tags(repo, &tags)?;
    if info.is_release() {
        return of_release(view, several, &info.semver);
    }
    let head = repo.head()?.context("the repository has no commit yet, so there are no notes")?;
    let since = info.tag.as_deref().and_then(|name| Some((name.to_owned(), version::tag_commit(repo, &tags, name)?)));
    notes(view, repo, several, info.semver, head, since)
}

/// The view's repository, unless it is a shallow clone: the previous release, or commits since it,
/// may lie beyond the cut, and notes made there could leave commits out and pass for complete.
fn full_history(view: &Workspace) -> Result<&Repo> {
    let repo = view.repo()?;
    if repo.is_shallow() {
        return Err(error::error_with_help(
            "this is a shallow clone, so the commits since the previous release cannot be known for the release notes",
            "fetch the full history and tags: `git fetch --unshallow --tags` (in CI, check out with full history, e.g. actions/checkout with `fetch-depth: 0`)",
        ));
    }
    Ok(repo)
}

fn notes(
    view: &Workspace,
    repo: &Repo,
    several: bool,
    version: Version,
    end: git2::Oid,
    since: Option<(String, git2::Oid)>,
) -> Result<ReleaseNotes> {
    // With several services, a commit counts for those whose build it changes.
    let paths = several.then(|| crate::gather::built_from(view)).flatten();
    let commits = repo.commits_between(end, since.as_ref().map(|(_, c)| *c), paths.as_deref())?;
    let service = several.then(|| view.service().name.clone());
    Ok(ReleaseNotes::new(service, version, since.map(|(name, _)| name), &commits))
}

/// Writes the notes a `write-notes` step carries: the markdown at `path`, the JSON at `predicate`.
pub(crate) fn write(path: &Utf8Path, predicate: &Utf8Path, notes: &ReleaseNotes) -> Result<()> {
    for dir in [path.parent(), predicate.parent()].into_iter().flatten() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {dir}"))?;
    }
    crate::dist::write_atomic(predicate, &serde_json::to_vec_pretty(notes).context("serializing the notes")?)?;
    crate::dist::write_atomic(path, notes.markdown().as_bytes())?;
    crate::ui::info(format_args!("wrote {path}: {} commit(s)", notes.commits));
    Ok(())
}
