//! Git reads, through libgit2 (no `git` process): HEAD, branch, tags, dirty and shallow state,
//! and the one history walk the version needs.
use anyhow::{Context, Result};
use camino::{Utf8Path, Utf8PathBuf};
use git2::{Oid, Repository, StatusOptions};

pub(crate) struct Repo {
    repo: Repository,
}

/// A tag as listed: its name (without `refs/tags/`) and the object it points at (a commit, or
/// an annotated tag object, peeled only when needed).
pub(crate) struct TagRef {
    pub(crate) name: String,
    pub(crate) target: Oid,
}

impl Repo {
    /// The repository containing `path`, or `None` when there is none.
    pub(crate) fn discover(path: &Utf8Path) -> Result<Option<Repo>> {
        // git itself does not re-hash objects it reads; libgit2 does by default, which was a
        // fifth of `version`'s time on a large history (BENCHMARKS.md).
        git2::opts::strict_hash_verification(false);
        match Repository::discover(path) {
            Ok(repo) => Ok(Some(Repo { repo })),
            Err(e) if e.code() == git2::ErrorCode::NotFound => Ok(None),
            Err(e) => Err(e).with_context(|| format!("opening the git repository at {path}")),
        }
    }

    /// The work tree's root (the repository itself for a bare one).
    pub(crate) fn root(&self) -> Utf8PathBuf {
        let path = self.repo.workdir().unwrap_or_else(|| self.repo.path());
        let path: std::path::PathBuf = path.components().collect(); // no trailing `/`
        Utf8PathBuf::from_path_buf(path).unwrap_or_else(|p| p.to_string_lossy().into_owned().into())
    }

    /// HEAD's commit; `None` in a repository with no commit yet.
    pub(crate) fn head(&self) -> Result<Option<Oid>> {
        match self.repo.head() {
            Ok(head) => Ok(Some(head.peel_to_commit().context("resolving HEAD to a commit")?.id())),
            Err(e) if e.code() == git2::ErrorCode::UnbornBranch || e.code() == git2::ErrorCode::NotFound => Ok(None),
            Err(e) => Err(e).context("reading HEAD"),
        }
    }

    /// The checked-out branch; `None` on a detached HEAD.
    pub(crate) fn branch(&self) -> Result<Option<String>> {
        if self.repo.head_detached().context("reading HEAD")? {
            return Ok(None);
        }
        let head = self.repo.find_reference("HEAD").context("reading HEAD")?;
        let target = head.symbolic_target().context("HEAD names a branch that is not UTF-8")?;
        Ok(target.and_then(|t| t.strip_prefix("refs/heads/")).map(str::to_owned))
    }

    pub(crate) fn is_shallow(&self) -> bool {
        self.repo.is_shallow()
    }

    /// A tracked file modified or a change staged, as `git status --untracked-files=no` says.
    pub(crate) fn is_dirty(&self) -> Result<bool> {
        if self.repo.is_bare() {
            return Ok(false);
        }
        Ok(!self.tracked_changes()?.is_empty())
    }

    fn tracked_changes(&self) -> Result<git2::Statuses<'_>> {
        let mut opts = StatusOptions::new();
        opts.include_untracked(false).include_ignored(false).exclude_submodules(true);
        self.repo.statuses(Some(&mut opts)).context("reading the work tree's status")
    }

    /// The tracked files [`Repo::is_dirty`] counts, by path.
    pub(crate) fn changed_files(&self) -> Result<Vec<String>> {
        if self.repo.is_bare() {
            return Ok(Vec::new());
        }
        let statuses = self.tracked_changes()?;
        let mut files: Vec<String> = statuses.iter().filter_map(|e| e.path().ok().map(str::to_owned)).collect();
        files.sort();
        files.dedup();
        Ok(files)
    }

    /// The files git tracks, relative to the work tree root: what a crate may hold. Untracked
    /// and ignored files are not among them.
    pub(crate) fn tracked_files(&self) -> Result<std::collections::BTreeSet<Utf8PathBuf>> {
        let index = self.repo.index().context("reading the git index")?;
        index
            .iter()
            .map(|entry| String::from_utf8(entry.path).map(Utf8PathBuf::from).context("a tracked path is not UTF-8"))
            .collect()
    }

    /// Every tag, straight from the ref iterator (`tag_foreach` looks each name up again).
    pub(crate) fn tags(&self) -> Result<Vec<TagRef>> {
        let mut tags = Vec::new();
        for reference in self.repo.references_glob("refs/tags/*").context("listing tags")? {
            let reference = reference.context("listing tags")?;
            let name = reference.name_bytes().strip_prefix(b"refs/tags/").and_then(|n| std::str::from_utf8(n).ok());
            if let (Some(name), Some(target)) = (name, reference.target()) {
                tags.push(TagRef { name: name.to_owned(), target });
            }
        }
        Ok(tags)
    }

    /// The commit a tag names; `None` when the object is missing (a shallow clone) or no commit.
    pub(crate) fn peel(&self, target: Oid) -> Option<Oid> {
        let object = self.repo.find_object(target, None).ok()?;
        object.peel_to_commit().ok().map(|c| c.id())
    }

    /// `Some(git rev-list --count TAG..HEAD)` when `tag` is reachable from `head`, else `None`,
    /// in one walk: from `head`, hiding the tag's parents. The tag commit shows up in that walk
    /// exactly when it is reachable, and every other commit it yields is in `TAG..HEAD`. When the
    /// tag is not reachable the walk stops where the tag's history joins HEAD's.
    pub(crate) fn distance_if_reachable(&self, head: Oid, tag: Oid) -> Result<Option<u64>> {
        if head == tag {
            return Ok(Some(0));
        }
        let commit = self.repo.find_commit(tag).with_context(|| format!("reading commit {tag}"))?;
        let mut walk = self.repo.revwalk().context("starting a history walk")?;
        walk.push(head)?;
        for parent in commit.parent_ids() {
            walk.hide(parent)?;
        }
        let (mut count, mut seen) = (0u64, false);
        for oid in walk {
            if oid.context("walking history")? == tag {
                seen = true;
            } else {
                count += 1;
            }
        }
        Ok(seen.then_some(count))
    }

    /// `git rev-list --count HEAD`.
    pub(crate) fn count_commits(&self, head: Oid) -> Result<u64> {
        let mut walk = self.repo.revwalk().context("starting a history walk")?;
        walk.push(head)?;
        let mut count = 0;
        for oid in walk {
            oid.context("walking history")?;
            count += 1;
        }
        Ok(count)
    }

    /// Whether the object database holds `commit`.
    pub(crate) fn has_commit(&self, commit: Oid) -> bool {
        self.repo.find_commit(commit).is_ok()
    }

    /// Tries to fetch `commit` from `remote` (`git fetch REMOTE SHA`; libgit2 is built without
    /// network). Failure is not an error: the caller then treats the commit as unknown.
    pub(crate) fn fetch_commit(&self, remote: &str, commit: Oid) {
        let Ok(sh) = xshell::Shell::new() else { return };
        let dir = self.root();
        let sha = commit.to_string();
        let _ = crate::ui::exec_output(xshell::cmd!(sh, "git -C {dir} fetch --quiet --no-tags {remote} {sha}"));
    }

    /// Whether `descendant` contains `ancestor` (equal counts).
    pub(crate) fn contains(&self, descendant: Oid, ancestor: Oid) -> Result<bool> {
        Ok(descendant == ancestor
            || self.repo.graph_descendant_of(descendant, ancestor).context("comparing commits")?)
    }

    /// The committer time of `commit`, in seconds since the epoch.
    pub(crate) fn commit_time(&self, commit: Oid) -> Result<i64> {
        Ok(self.repo.find_commit(commit).with_context(|| format!("reading commit {commit}"))?.time().seconds())
    }
}
