//! `cargo xtask bench`: what the release tool costs, as ratios against what a user would run
//! otherwise, measured side by side (alternating runs) in one process on one machine. Makes its
//! own inputs. `--quick` runs the small sizes only (CI runs it so the harness never rots);
//! the full run writes BENCHMARKS.md.
//!
//! This repository's own tool, not the library's: adopters of `release-pipeline` never build it
//! and their `--help` does not list it. It measures through what a person runs, this xtask
//! binary's commands and cargo, and so uses nothing of the library but its binary.
use std::{
    fmt::{Display, Write as _},
    process::ExitCode,
    time::{Duration, Instant},
};

use anyhow::{Context, Result};
use camino::{Utf8Path, Utf8PathBuf};
use xshell::{cmd, Shell};

xflags::xflags! {
    /// Measure what the tool costs against what a user would run otherwise, side by side, and
    /// write BENCHMARKS.md. This repository's own command (the library's adopters do not get
    /// it). Example: cargo xtask bench --quick
    cmd bench {
        /// Small sizes only, no docker rows (CI runs this so the harness never rots).
        optional --quick
        /// Only the rows of one feature (`notes`: computing the release notes, attaching them; `rebuild`:
        /// rebuilding a release against its own run, a mirror's copy against the push; `cold`: the
        /// cold builds of this workspace's xtask and of an adopter's),
        /// written to target/bench/BENCHMARKS-only.md.
        optional --only feature: String
    }
}

/// The release targets of this workspace (its configuration's defaults), and the package and
/// binary they build: the raw commands the rows compare against name them.
const TARGETS: [&str; 3] = ["x86_64-unknown-linux-musl", "aarch64-unknown-linux-gnu", "armv7-unknown-linux-gnueabihf"];
const SERVICE: &str = "service";

/// `cargo xtask bench …`: the arguments after `bench`.
pub(crate) fn main() -> ExitCode {
    let flags = match Bench::from_vec(std::env::args_os().skip(2).collect()) {
        Ok(flags) => flags,
        Err(err) if err.is_help() => {
            println!("{err}");
            return ExitCode::SUCCESS;
        }
        Err(err) => {
            eprintln!("error: {err}\nhelp: run `cargo xtask bench --help`");
            return ExitCode::from(2);
        }
    };
    let result = match flags.only.as_deref() {
        None => run(flags.quick),
        Some("notes") => run_notes(),
        Some("rebuild") => rebuild_only(),
        Some("cold") => {
            only(|sh, root, work, _| Ok(vec![cold_build(sh, root, work)?, adopter_cold_build(sh, root, work)?]))
        }
        Some(other) => Err(anyhow::anyhow!("--only {other}: the features are: notes, rebuild, cold")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// What the bench is measuring, on stderr; [`Step::done`] says how long it took.
struct Step(Instant);

fn measuring(what: impl Display) -> Step {
    eprintln!("bench: {what}");
    Step(Instant::now())
}

impl Step {
    fn done(self) {
        eprintln!("bench: done in {}", fmt_secs(self.0.elapsed().as_secs_f64()));
    }
}

fn info(msg: impl Display) {
    eprintln!("bench: {msg}");
}

/// The workspace's root and cargo's target directory, as `cargo metadata` says.
fn workspace(sh: &Shell) -> Result<(Utf8PathBuf, Utf8PathBuf)> {
    let metadata = cmd!(sh, "cargo metadata --no-deps --format-version 1").quiet().read()?;
    let metadata: serde_json::Value = serde_json::from_str(&metadata).context("reading cargo metadata")?;
    let path = |key: &str| metadata[key].as_str().map(Utf8PathBuf::from).with_context(|| format!("no {key}"));
    Ok((path("workspace_root")?, path("target_directory")?))
}

/// The shell in the workspace's root, the root, the bench's directory (`target/bench`) and the
/// copy of this binary the rows run.
fn setup() -> Result<(Shell, Utf8PathBuf, Utf8PathBuf, Utf8PathBuf)> {
    let sh = Shell::new()?;
    let (root, target_dir) = workspace(&sh)?;
    sh.change_dir(&root);
    let work = target_dir.join("bench");
    std::fs::create_dir_all(&work)?;
    // A copy of this binary: `cargo xtask` in the warm row may rebuild (and so replace) ours.
    let xtask = work.join("xtask");
    std::fs::copy(std::env::current_exe()?, &xtask).context("copying the xtask binary")?;
    Ok((sh, root, work, xtask))
}

fn run(quick: bool) -> Result<()> {
    let (sh, root, work, xtask) = setup()?;
    let runs = if quick { 3 } else { 7 };
    let mut rows = Vec::new();

    let sizes: &[(usize, usize, usize)] =
        if quick { &[(1_000, 10, 200)] } else { &[(1_000, 10, 200), (10_000, 100, 1_000), (100_000, 1_000, 2_000)] };
    let venv = python_venv(&sh, &work)?;
    for &(commits, tags, past) in sizes {
        let repo = work.join(format!("repo-{commits}"));
        let step =
            measuring(format!("synthetic repository: {commits} commits, {tags} tags, HEAD {past} past the highest"));
        synthetic_repo(&sh, &repo, commits, tags, past)?;
        step.done();
        for graph in [false, true] {
            if graph {
                cmd!(sh, "git -C {repo} commit-graph write --reachable").quiet().run()?;
            }
            let label =
                format!("{commits} commits / {tags} tags / +{past}{}", if graph { ", commit-graph" } else { "" });
            let (ours, theirs) = side_by_side(
                runs,
                &mut || Ok(cmd!(sh, "{xtask} version --repo {repo}").quiet().ignore_stdout().run()?),
                &mut || Ok(cmd!(sh, "git -C {repo} describe --tags --long").quiet().ignore_stdout().run()?),
            )?;
            let goal = if graph {
                "reported: git skips parsing commits with a commit-graph, which a fresh clone lacks"
            } else {
                "≤ 1.0× git describe --tags --long"
            };
            rows.push(Row {
                what: format!("version, {label}"),
                ours,
                theirs: Some(theirs),
                goal: goal.into(),
                note: String::new(),
            });
            if !graph {
                let python = venv.join("bin/python");
                let conf = work.join("pyproject.toml");
                let scm_runs = runs.min(3);
                let (ours, theirs) = side_by_side(
                    scm_runs,
                    &mut || {
                        Ok(cmd!(sh, "{xtask} version --format pep440 --repo {repo}").quiet().ignore_stdout().run()?)
                    },
                    &mut || {
                        Ok(cmd!(sh, "{python} -W ignore -m setuptools_scm -c {conf} --root {repo}")
                            .quiet()
                            .ignore_stdout()
                            .ignore_stderr()
                            .run()?)
                    },
                )?;
                rows.push(Row {
                    what: format!("version --format pep440, {label}"),
                    ours,
                    theirs: Some(theirs),
                    goal: "≥ 10× faster than setuptools_scm".into(),
                    note: String::new(),
                });
            }
        }
    }

    for shape in shapes() {
        rows.push(shape_row(&sh, &work, &xtask, &shape)?);
        if shape.slug == "tokio" {
            rows.push(shape_json_row(&sh, &work, &xtask, &shape)?);
        }
    }

    rows.push(packaging(&sh, &root, &work, &xtask, runs)?);
    rows.push(notes_row(&sh, &root, &xtask, runs)?);

    let step = measuring("warm `cargo xtask version`");
    let mut samples = Vec::new();
    cmd!(sh, "cargo xtask -q version").quiet().ignore_stdout().run()?;
    for _ in 0..runs {
        samples.push(time(&mut || {
            Ok(cmd!(sh, "cargo xtask -q version").quiet().ignore_stdout().ignore_stderr().run()?)
        })?);
    }
    rows.push(Row {
        what: "warm `cargo xtask version` (whole process, nothing to rebuild)".into(),
        ours: Stats::of(samples),
        theirs: None,
        goal: "≤ 0.2 s".into(),
        note: String::new(),
    });
    step.done();

    if quick {
        info("--quick: the cold builds and the docker rows run in the full bench only");
    } else {
        rows.push(cold_build(&sh, &root, &work)?);
        rows.push(adopter_cold_build(&sh, &root, &work)?);
        rows.extend(dev_release_rows(&sh, &root, &work, &xtask)?);
        rows.push(moving_tags_row(&sh, &work, &xtask, runs)?);
        rows.push(signing_row(&sh, &root, &work, &xtask, runs)?);
        rows.push(notes_attest_row(&sh, &root, &work, &xtask, runs)?);
        rows.push(parts_row(&sh, &root, &work, &xtask)?);
        rows.extend(rebuild_and_mirror_rows(&sh, &root, &work, &xtask)?);
    }

    let report = report(&rows, quick, &sh)?;
    print!("{report}");
    let out = if quick { work.join("BENCHMARKS-quick.md") } else { root.join("BENCHMARKS.md") };
    let existing = std::fs::read_to_string(&out).unwrap_or_default();
    let notes = existing.split_once("\n## Notes\n").map(|(_, n)| format!("\n## Notes\n{n}")).unwrap_or_default();
    std::fs::write(&out, format!("{report}{notes}")).with_context(|| format!("writing {out}"))?;
    info(format_args!("wrote {out}"));
    Ok(())
}

/// `--only notes`: the release notes' rows.
fn run_notes() -> Result<()> {
    only(|sh, root, work, xtask| Ok(vec![notes_row(sh, root, xtask, 7)?, notes_attest_row(sh, root, work, xtask, 7)?]))
}

/// `--only FEATURE`: its rows, printed and written to `target/bench/BENCHMARKS-only.md`
/// (BENCHMARKS.md is left as it is).
fn only(rows: impl FnOnce(&Shell, &Utf8Path, &Utf8Path, &Utf8Path) -> Result<Vec<Row>>) -> Result<()> {
    let (sh, root, work, xtask) = setup()?;
    let rows = rows(&sh, &root, &work, &xtask)?;
    let report = report(&rows, false, &sh)?;
    print!("{report}");
    let out = work.join("BENCHMARKS-only.md");
    std::fs::write(&out, report).with_context(|| format!("writing {out}"))?;
    info(format_args!("wrote {out}"));
    Ok(())
}

/// What the notes cost a release: `notes` on this repository's own history (every commit: it
/// has no version tag), which is what a release's preflight reads and its `write-notes` step
/// writes, against `git log` of the same commits (no grouping, no parsing).
fn notes_row(sh: &Shell, root: &Utf8Path, xtask: &Utf8Path, runs: usize) -> Result<Row> {
    let step = measuring("release notes of this repository's history");
    let _in = sh.push_dir(root);
    let commits = cmd!(sh, "git rev-list --count --no-merges HEAD").quiet().read()?;
    let (ours, theirs) = side_by_side(
        runs,
        &mut || Ok(cmd!(sh, "{xtask} -q notes").quiet().ignore_stdout().ignore_stderr().run()?),
        &mut || Ok(cmd!(sh, "git log --no-merges --format=%h%x20%s HEAD").quiet().ignore_stdout().run()?),
    )?;
    step.done();
    Ok(Row {
        what: format!(
            "release notes (`notes`) of this repository's history, {commits} commits, vs `git log --no-merges` of them"
        ),
        ours,
        theirs: Some(theirs),
        goal: "≤ 0.1 s added to a release".into(),
        note: "the services read included (`cargo metadata`)".into(),
    })
}

/// What attaching the notes costs a signed release: `cosign attest` of this repository's notes
/// (its whole history) on an image's digest, against the same attestation of an empty predicate:
/// the notes' own size against what any attestation costs.
fn notes_attest_row(sh: &Shell, root: &Utf8Path, work: &Utf8Path, xtask: &Utf8Path, runs: usize) -> Result<Row> {
    let step = measuring("the notes' attestation against an empty one");
    let registry = bench_registry(sh, work)?;
    let repository = format!("127.0.0.1:{}/bench/notes", registry.port);
    let dir = work.join("notes-attest");
    let _ = std::fs::remove_dir_all(&dir);
    write_tree(
        &dir,
        &[
            ("image/Dockerfile", "FROM scratch\nCOPY v /v\n".into()),
            ("image/v", "notes".into()),
            ("empty.json", "{}".into()),
        ],
    )?;
    let notes = {
        let _in = sh.push_dir(root);
        cmd!(sh, "{xtask} -q notes --format json").quiet().read()?
    };
    std::fs::write(dir.join("notes.json"), &notes)?;
    let _in = sh.push_dir(&dir);
    let tag = format!("{repository}:1.0.0");
    cmd!(sh, "docker buildx build --quiet --platform linux/amd64 --provenance=false --tag {tag} --push image")
        .quiet()
        .ignore_stdout()
        .run()?;
    let format = "{{.Digest}}";
    let image = format!("docker://{tag}");
    let digest = cmd!(sh, "skopeo inspect --tls-verify=false --format {format} {image}").quiet().read()?;
    let pinned = format!("{repository}@{}", digest.trim());
    let password = key_pair(sh)?;
    let attest = |predicate: &str| -> Result<()> {
        Ok(cmd!(sh, "cosign attest --yes --key cosign.key --tlog-upload=false --allow-http-registry --type https://release-pipeline.dev/release-notes/v1 --predicate {predicate} {pinned}")
            .env("COSIGN_PASSWORD", &password)
            .quiet()
            .ignore_stdout()
            .ignore_stderr()
            .run()?)
    };
    let (ours, theirs) = side_by_side(runs.min(5), &mut || attest("notes.json"), &mut || attest("empty.json"))?;
    step.done();
    Ok(Row {
        what: format!("attaching the notes: `cosign attest` of this repository's notes ({} KiB) on an image vs an empty predicate", notes.len() / 1024),
        ours,
        theirs: Some(theirs),
        goal: "≤ 1 s per image".into(),
        note: format!("the notes' size adds {}", fmt_secs((ours.median - theirs.median).max(0.0))),
    })
}

/// A cosign key pair in the shell's directory (`cosign.key`, `cosign.pub`): its password.
fn key_pair(sh: &Shell) -> Result<String> {
    let password = format!("bench-{}", std::process::id());
    cmd!(sh, "cosign generate-key-pair")
        .env("COSIGN_PASSWORD", &password)
        .quiet()
        .ignore_stdout()
        .ignore_stderr()
        .run()?;
    Ok(password)
}

struct Row {
    what: String,
    ours: Stats,
    theirs: Option<Stats>,
    goal: String,
    note: String,
}

#[derive(Clone, Copy)]
struct Stats {
    median: f64,
    min: f64,
    max: f64,
}

impl Stats {
    fn of(mut samples: Vec<f64>) -> Stats {
        samples.sort_by(f64::total_cmp);
        Stats { median: samples[samples.len() / 2], min: samples[0], max: samples[samples.len() - 1] }
    }
    fn once(secs: f64) -> Stats {
        Stats { median: secs, min: secs, max: secs }
    }
    fn show(&self) -> String {
        if self.min == self.max {
            fmt_secs(self.median)
        } else {
            format!("{} ({}–{})", fmt_secs(self.median), fmt_secs(self.min), fmt_secs(self.max))
        }
    }
}

fn fmt_secs(s: f64) -> String {
    if s < 1.0 {
        format!("{:.1} ms", s * 1000.0)
    } else {
        format!("{s:.2} s")
    }
}

fn time(f: &mut dyn FnMut() -> Result<()>) -> Result<f64> {
    let start = Instant::now();
    f()?;
    Ok(start.elapsed().as_secs_f64())
}

/// Runs `ours` and `theirs` alternately `n` times each.
fn side_by_side(
    n: usize,
    ours: &mut dyn FnMut() -> Result<()>,
    theirs: &mut dyn FnMut() -> Result<()>,
) -> Result<(Stats, Stats)> {
    ours()?; // warm the caches for both
    theirs()?;
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for _ in 0..n {
        a.push(time(ours)?);
        b.push(time(theirs)?);
    }
    Ok((Stats::of(a), Stats::of(b)))
}

/// A linear history of `commits` commits made with `git fast-import`, `tags` version tags spread
/// over it, the highest `past` commits before HEAD; refs packed, no commit-graph.
fn synthetic_repo(sh: &Shell, dir: &Utf8Path, commits: usize, tags: usize, past: usize) -> Result<()> {
    let marker = dir.join(".bench-complete");
    if marker.exists() {
        let _ = std::fs::remove_file(dir.join(".git/objects/info/commit-graph"));
        let _ = std::fs::remove_dir_all(dir.join(".git/objects/info/commit-graphs"));
        return Ok(());
    }
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir)?;
    cmd!(sh, "git -C {dir} init -q -b main").run()?;
    let tagged_span = commits - past;
    let every = (tagged_span / tags).max(1);
    let mut stream = String::with_capacity(commits * 120);
    let mut tag_no = 0;
    for i in 1..=commits {
        let _ = write!(stream, "commit refs/heads/main\nmark :{i}\ncommitter Bench <bench@example.com> {} +0000\ndata 9\ncommit {:02}\nM 644 inline file.txt\ndata {}\n{i}\n\n", 1_600_000_000 + i, i % 100, i.to_string().len() + 1);
        if i % every == 0 && tag_no < tags {
            tag_no += 1;
            let _ = write!(stream, "reset refs/tags/1.{}.0\nfrom :{i}\n\n", tag_no);
        }
    }
    cmd!(sh, "git -C {dir} fast-import --quiet").stdin(stream.as_bytes()).run().context("git fast-import")?;
    cmd!(sh, "git -C {dir} pack-refs --all").run()?;
    cmd!(sh, "git -C {dir} reset -q --hard main").run()?;
    std::fs::write(&marker, "")?;
    cmd!(sh, "git -C {dir} update-index --assume-unchanged file.txt").quiet().run()?;
    Ok(())
}

/// A history shaped like a public project's, where `git describe` has what ours lacks: annotated
/// tags by the hundred under several prefixes, a higher tag on a branch HEAD does not contain, no
/// version tag at all, the nearest tag not the highest. Each is compared with git's fastest
/// command for the same answer.
struct Shape {
    slug: &'static str,
    name: &'static str,
    commits: usize,
    /// Tracked files: `version --format json` checks them all for changes, as `git describe
    /// --dirty` does; `version` only when HEAD is on its base tag.
    files: usize,
    prefix: &'static str,
    /// (commit number, tag name), all annotated.
    tags: Vec<(usize, String)>,
    /// A branch forked at this commit, of this many commits, its tip tagged so.
    branch: Option<(usize, usize, &'static str)>,
    git: &'static [&'static str],
    goal: &'static str,
}

impl Shape {
    /// Where [`shape_repo`] makes this shape's repository.
    fn dir(&self, work: &Utf8Path) -> Utf8PathBuf {
        work.join(format!("shape-{}", self.slug))
    }
}

fn shapes() -> Vec<Shape> {
    let spread = |count: usize, from: usize, to: usize, name: &dyn Fn(usize) -> String| -> Vec<(usize, String)> {
        (0..count).map(|k| (from + k * (to - from) / (count - 1), name(k))).collect()
    };
    // serde: 322 `v1.0.x` tags, the highest 35 commits back.
    let serde = spread(322, 100, 3_965, &|k| format!("v1.0.{k}"));
    // tokio: 395 tags, a fifth of them `tokio-X.Y.Z`, the rest other crates'; the highest
    // `tokio-` tag 20 commits back, other crates' tags after it.
    let crates = ["tokio-", "tokio-util-0.", "tokio-macros-2.", "tokio-stream-0.1.", "tokio-test-0.4."];
    let mut tokio = spread(390, 50, 4_560, &|k| match k % 5 {
        0 => format!("tokio-1.{}.0", k / 5),
        c => format!("{}{}", crates[c], k / 5),
    });
    tokio.push((4_580, "tokio-1.78.0".into()));
    tokio.extend([(4_585, "tokio-util-0.78".into()), (4_590, "tokio-macros-2.78".into())]);
    tokio.extend([(4_595, "tokio-stream-0.1.78".into()), (4_598, "tokio-test-0.4.78".into())]);
    // ripgrep: 60 `X.Y.Z` releases among 240 tags of its crates; `15.2.0` 26 commits back, and
    // the nearest tag, on HEAD, another crate's.
    let mut ripgrep = spread(240, 20, 2_150, &|k| match k % 4 {
        0 => format!("{}.{}.0", k / 40, k / 4 % 10),
        1 => format!("ignore-0.3.{}", k / 4),
        2 => format!("grep-0.3.{}", k / 4),
        _ => format!("globset-0.4.{}", k / 4),
    });
    ripgrep.extend([(2_174, "15.2.0".into()), (2_200, "ignore-0.4.33".into())]);
    // A release branch: `2.0.0` cut on a branch forked 300 commits back and never merged; main
    // carries 1.x, the highest 30 commits back.
    let release =
        spread(99, 50, 4_900, &|k| format!("1.{k}.0")).into_iter().chain([(4_970, "1.99.0".into())]).collect();
    let describe: &[&str] = &["describe", "--tags", "--long"];
    vec![
        Shape { slug: "serde", name: "serde-like: 4000 commits, 322 annotated `v1.0.x` tags, the highest 35 back, 350 files", commits: 4_000, files: 350, prefix: "", tags: serde, branch: None, git: describe, goal: "≤ 1.0× git describe --tags --long" },
        Shape { slug: "tokio", name: "tokio-like, prefix `tokio-`: 4600 commits, 395 annotated tags of 5 crates, the highest `tokio-` 20 back, 800 files", commits: 4_600, files: 800, prefix: "tokio-", tags: tokio.clone(), branch: None, git: &["describe", "--tags", "--long", "--match", "tokio-[0-9]*"], goal: "≤ 1.0× git describe --tags --long --match 'tokio-[0-9]*'" },
        Shape { slug: "ripgrep", name: "ripgrep-like: 2200 commits, 242 annotated tags of 4 crates, `15.2.0` 26 back, another crate's tag on HEAD, 250 files", commits: 2_200, files: 250, prefix: "", tags: ripgrep, branch: None, git: &["describe", "--tags", "--long", "--match", "[0-9]*"], goal: "≤ 1.0× git describe --tags --long --match '[0-9]*'" },
        Shape { slug: "no-tag", name: "no version tag (tokio-like, prefix `nomatch-`): 4600 commits counted, 800 files", commits: 4_600, files: 800, prefix: "nomatch-", tags: tokio, branch: None, git: &["rev-list", "--count", "HEAD"], goal: "≤ 1.5× git rev-list --count HEAD" },
        Shape { slug: "release-branch", name: "release branch: `2.0.0` on a branch forked 300 back that HEAD lacks, `1.99.0` 30 back, 5000 commits, 350 files", commits: 5_000, files: 350, prefix: "", tags: release, branch: Some((4_700, 40, "2.0.0")), git: describe, goal: "reported: git describe does not prove `2.0.0` unreachable" },
    ]
}

/// Runs of each side of a shape row: a few ms each, and the ratio is compared with 1.0, so a
/// median of 31 rather than of the usual 7 (the run-to-run spread here is a few percent).
const SHAPE_RUNS: usize = 31;

fn shape_row(sh: &Shell, work: &Utf8Path, xtask: &Utf8Path, shape: &Shape) -> Result<Row> {
    let repo = shape.dir(work);
    let step = measuring(format!("shape {}", shape.name));
    shape_repo(sh, work, &repo, shape)?;
    let git = shape.git;
    let (ours, theirs) = side_by_side(
        SHAPE_RUNS,
        &mut || Ok(cmd!(sh, "{xtask} version --repo {repo}").quiet().ignore_stdout().run()?),
        &mut || Ok(cmd!(sh, "git -C {repo} {git...}").quiet().ignore_stdout().run()?),
    )?;
    step.done();
    let version = cmd!(sh, "{xtask} version --repo {repo}").quiet().read()?;
    Ok(Row {
        what: format!("version, {}", shape.name),
        ours,
        theirs: Some(theirs),
        goal: shape.goal.into(),
        note: format!("`{version}` vs `git {}`", git.join(" ")),
    })
}

/// `version --format json`, which reports whether the tree is dirty and so checks every tracked
/// file, against `git describe --dirty`, which does the same; the shape's repository is made by
/// [`shape_row`] before.
fn shape_json_row(sh: &Shell, work: &Utf8Path, xtask: &Utf8Path, shape: &Shape) -> Result<Row> {
    let repo = shape.dir(work);
    let git: &[&str] = &[shape.git, &["--dirty"]].concat();
    let (ours, theirs) = side_by_side(
        SHAPE_RUNS,
        &mut || Ok(cmd!(sh, "{xtask} version --format json --repo {repo}").quiet().ignore_stdout().run()?),
        &mut || Ok(cmd!(sh, "git -C {repo} {git...}").quiet().ignore_stdout().run()?),
    )?;
    Ok(Row {
        what: format!("version --format json (the work tree read), {}", shape.name),
        ours,
        theirs: Some(theirs),
        goal: format!(
            "reported: git does not verify the index's checksum, libgit2 does (SHA-1DC), vs git {}",
            git.join(" ")
        ),
        note: String::new(),
    })
}

/// [`Shape`]'s history made with `git fast-import`, then cloned, so that pack, packed-refs (with
/// their peeled lines), index and work tree are a fresh clone's. Each commit changes one file.
fn shape_repo(sh: &Shell, work: &Utf8Path, dir: &Utf8Path, shape: &Shape) -> Result<()> {
    let marker = dir.join(".git/bench-complete");
    if marker.exists() {
        return Ok(());
    }
    let source = work.join("shape-source");
    for d in [dir, &source] {
        let _ = std::fs::remove_dir_all(d);
    }
    std::fs::create_dir_all(&source)?;
    cmd!(sh, "git -C {source} init -q -b main").run()?;
    let file = |n: usize| format!("src/m{:02}/f{n:04}.rs", n / 25);
    let body =
        |n: usize, rev: usize| format!("// file {n}, revision {rev}\n{}\n", "pub fn f() -> u32 { 42 }\n".repeat(8));
    let mut tags_at: Vec<Vec<&str>> = vec![Vec::new(); shape.commits + 1];
    for (at, name) in &shape.tags {
        tags_at[*at].push(name);
    }
    let mut out = String::with_capacity(shape.commits * 400 + shape.files * 300);
    let commit = |out: &mut String, branch: &str, mark: usize, time: usize, from: Option<usize>, changes: &[usize]| {
        let message = format!("Change number {mark}\n\nA longer explanation of why, as real commits carry,\nwrapped at a reasonable width (#{mark}).\n");
        let _ = write!(out, "commit refs/heads/{branch}\nmark :{mark}\nauthor Dev <dev@example.com> {t} +0000\ncommitter Dev <dev@example.com> {t} +0000\ndata {}\n{message}", message.len(), t = 1_600_000_000 + time * 600);
        if let Some(from) = from {
            let _ = writeln!(out, "from :{from}");
        }
        for &n in changes {
            let data = body(n, mark);
            let _ = write!(out, "M 644 inline {}\ndata {}\n{data}", file(n), data.len());
        }
        if mark == 1 {
            let toml = format!(
                "[workspace]\nmembers = []\n[workspace.metadata.release-pipeline]\nversion-tag-prefix = \"{}\"\n",
                shape.prefix
            );
            let _ = write!(out, "M 644 inline Cargo.toml\ndata {}\n{toml}", toml.len());
        }
        out.push('\n');
    };
    let tag = |out: &mut String, name: &str, mark: usize| {
        let _ = write!(
            out,
            "tag {name}\nfrom :{mark}\ntagger Dev <dev@example.com> {} +0000\ndata 8\nRelease\n\n",
            1_600_000_000 + mark * 600
        );
    };
    let all: Vec<usize> = (0..shape.files).collect();
    for (i, names) in tags_at.iter().enumerate().skip(1) {
        let changes = if i == 1 { all.clone() } else { vec![i * 7_919 % shape.files] };
        commit(&mut out, "main", i, i, None, &changes);
        for name in names {
            tag(&mut out, name, i);
        }
    }
    if let Some((fork, len, name)) = shape.branch {
        for j in 0..len {
            let mark = shape.commits + 1 + j;
            let time = fork + (j + 1) * (shape.commits - fork) / len; // interleaved with main's
            commit(&mut out, "release", mark, time, (j == 0).then_some(fork), &[j * 13 % shape.files]);
        }
        tag(&mut out, name, shape.commits + len);
    }
    cmd!(sh, "git -C {source} fast-import --quiet").stdin(out.as_bytes()).run().context("git fast-import")?;
    cmd!(sh, "git clone -q --no-local {source} {dir}").run()?;
    std::fs::remove_dir_all(&source)?;
    std::fs::write(&marker, "")?;
    Ok(())
}

/// A venv with setuptools_scm, made once under the bench directory.
fn python_venv(sh: &Shell, work: &Utf8Path) -> Result<Utf8PathBuf> {
    let venv = work.join("venv");
    std::fs::write(
        work.join("pyproject.toml"),
        "[project]\nname = \"bench\"\ndynamic = [\"version\"]\n[tool.setuptools_scm]\nversion_scheme = \"guess-next-dev\"\nlocal_scheme = \"no-local-version\"\n",
    )?;
    if !venv.join("bin/python").exists()
        || cmd!(sh, "{venv}/bin/python -c 'import setuptools_scm'").quiet().ignore_stderr().run().is_err()
    {
        let step = measuring("a Python venv with setuptools_scm");
        cmd!(sh, "python3 -m venv {venv}").quiet().run()?;
        cmd!(sh, "{venv}/bin/pip install --quiet setuptools-scm==10.3.4").quiet().run()?;
        step.done();
    }
    Ok(venv)
}

/// `dist` of the release binary for one target with nothing to rebuild, as a person runs it in a
/// clone of this workspace (cargo's freshness check, the version, the package, `SHA256SUMS`),
/// against the same `cargo build` and `tar -cf - … | gzip -6` of the package's files; and the
/// two packages' sizes. Each side builds into its own target directory once, before the clock.
fn packaging(sh: &Shell, root: &Utf8Path, work: &Utf8Path, xtask: &Utf8Path, runs: usize) -> Result<Row> {
    let target = TARGETS[0];
    let clone = work.join("dist-clone");
    let _ = std::fs::remove_dir_all(&clone);
    cmd!(sh, "git clone -q {root} {clone}").run()?;
    let _dir = sh.push_dir(&clone);
    let (ours_target, raw_target) = (work.join("dist-target"), work.join("dist-target-raw"));
    let dist = || -> Result<()> {
        let _target = sh.push_env("CARGO_TARGET_DIR", &ours_target);
        Ok(cmd!(sh, "{xtask} -q dist --target {target}").quiet().ignore_stdout().run()?)
    };
    let raw_build = || -> Result<()> {
        Ok(cmd!(sh, "cargo build --quiet --release --locked -p {SERVICE} --bin {SERVICE} --target {target} --target-dir {raw_target}").quiet().run()?)
    };
    let step = measuring("building the release binary to package, once for each side");
    dist()?;
    raw_build()?;
    step.done();
    // The files of the package `dist` wrote, unpacked: what the raw side packs.
    let package = std::fs::read_dir(clone.join("dist"))?
        .filter_map(|e| Utf8PathBuf::from_path_buf(e.ok()?.path()).ok())
        .find(|p| p.as_str().ends_with(&format!("-{target}.tar.gz")))
        .context("dist wrote no .tar.gz")?;
    let stage = work.join("package");
    let _ = std::fs::remove_dir_all(&stage);
    std::fs::create_dir_all(&stage)?;
    cmd!(sh, "tar -xzf {package} -C {stage}").run()?;
    let mut files: Vec<String> =
        std::fs::read_dir(&stage)?.map(|e| Ok(e?.file_name().to_string_lossy().into_owned())).collect::<Result<_>>()?;
    files.sort();
    let binary_size = std::fs::metadata(stage.join("bin").join(SERVICE))?.len();
    let theirs_out = work.join("theirs.tar.gz");
    let script = format!("tar -cf - -C {stage} {} | gzip -6 > {theirs_out}", files.join(" "));
    let (ours, theirs) = side_by_side(runs, &mut || dist(), &mut || {
        raw_build()?;
        Ok(cmd!(sh, "sh -c {script}").quiet().run()?)
    })?;
    let (our_size, their_size) = (std::fs::metadata(&package)?.len(), std::fs::metadata(&theirs_out)?.len());
    Ok(Row {
        what: format!(
            "`dist` of the release binary ({} KiB) for one target, nothing to rebuild, vs `cargo build` + `tar \\| gzip -6`",
            binary_size / 1024
        ),
        ours,
        theirs: Some(theirs),
        // `dist` also reads the services (`cargo metadata`), the version, and writes the
        // manifest and `SHA256SUMS`: about 10 ms over the raw commands (BENCHMARKS.md).
        goal: "≤ 1.2× time, ≤ size of `tar \\| gzip -6`".into(),
        note: format!(
            "size {our_size} vs {their_size} bytes ({:+.2}%)",
            (our_size as f64 / their_size as f64 - 1.0) * 100.0
        ),
    })
}

/// This workspace's xtask built from an empty target directory (dev profile, what `cargo xtask`
/// runs): a contributor's first `cargo xtask`.
fn cold_build(sh: &Shell, root: &Utf8Path, work: &Utf8Path) -> Result<Row> {
    let step = measuring("xtask cold build (cargo build -p xtask from an empty target directory)");
    let secs = fresh_build(sh, root, &work.join("cold-target"), &["--locked"])?;
    step.done();
    Ok(Row {
        what: "xtask cold build, dev profile (this workspace's, with `bench`)".into(),
        ours: Stats::once(secs),
        theirs: None,
        goal: "≤ 40 s on 2 cores".into(),
        note: format!("{} crates in the dependency tree", crates_in_tree(sh, root, &["--locked"])?),
    })
}

/// An adopter's xtask built from an empty target directory: a fresh workspace holding only the
/// `xtask` README's "Adopting the pipeline in another workspace" writes (the library by path, a
/// `main` that calls it), with this workspace's `[profile.dev…]` tables copied and
/// `idna_adapter = "~1.0"` added, as that section says (and `init` writes). Its dependencies are resolved afresh, the newest each requirement allows, as an
/// adopter gets them, and fetched before the clock starts.
fn adopter_cold_build(sh: &Shell, root: &Utf8Path, work: &Utf8Path) -> Result<Row> {
    let step = measuring("an adopter's xtask cold build (a fresh workspace, the library by path)");
    let ws = work.join("adopter");
    let manifest = std::fs::read_to_string(root.join("Cargo.toml"))?;
    let library = root.join("release-pipeline");
    write_tree(
        &ws,
        &[
            ("Cargo.toml", format!("[workspace]\nmembers = [\"xtask\"]\nresolver = \"2\"\n\n{}", dev_profiles(&manifest))),
            ("xtask/Cargo.toml", format!("[package]\nname = \"xtask\"\nversion = \"0.1.0\"\nedition = \"2021\"\npublish = false\n\n[dependencies]\nrelease-pipeline = {{ path = \"{library}\" }}\nidna_adapter = \"~1.0\"\n")),
            ("xtask/src/main.rs", "fn main() -> std::process::ExitCode {\n    release_pipeline::main()\n}\n".into()),
        ],
    )?;
    cmd!(sh, "cargo fetch --quiet --manifest-path {ws}/Cargo.toml").run()?;
    let secs = fresh_build(sh, &ws, &ws.join("target"), &[])?;
    step.done();
    Ok(Row {
        what: "an adopter's xtask cold build, dev profile (a fresh workspace: the library by path, these dev profiles, dependencies resolved afresh)".into(),
        ours: Stats::once(secs),
        theirs: None,
        goal: "≤ 40 s on 2 cores".into(),
        note: format!("{} crates in the dependency tree", crates_in_tree(sh, &ws, &[])?),
    })
}

/// A fresh directory `dir` holding these files (path under `dir`, text).
fn write_tree(dir: &Utf8Path, files: &[(&str, String)]) -> Result<()> {
    let _ = std::fs::remove_dir_all(dir);
    for (path, text) in files {
        let path = dir.join(path);
        std::fs::create_dir_all(path.parent().context("a file has a directory")?)?;
        std::fs::write(&path, text).with_context(|| format!("writing {path}"))?;
    }
    Ok(())
}

/// The `[profile.dev…]` tables of a manifest, whole.
fn dev_profiles(manifest: &str) -> String {
    let mut inside = false;
    let mut out = String::new();
    for line in manifest.lines() {
        if line.starts_with('[') {
            inside = line.starts_with("[profile.dev");
        }
        if inside {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// `cargo build -p xtask` of `workspace` into `dir`, emptied first: the seconds it took.
fn fresh_build(sh: &Shell, workspace: &Utf8Path, dir: &Utf8Path, flags: &[&str]) -> Result<f64> {
    let _ = std::fs::remove_dir_all(dir);
    let _in = sh.push_dir(workspace);
    time(&mut || Ok(cmd!(sh, "cargo build --quiet {flags...} -p xtask --target-dir {dir}").quiet().run()?))
}

/// The crates `cargo build -p xtask` compiles in `workspace` (build dependencies left out).
fn crates_in_tree(sh: &Shell, workspace: &Utf8Path, flags: &[&str]) -> Result<usize> {
    let _in = sh.push_dir(workspace);
    let tree = cmd!(sh, "cargo tree {flags...} -p xtask -e normal --prefix none").quiet().read()?;
    let mut crates: Vec<&str> = tree.lines().map(|l| l.split(" (").next().unwrap_or(l)).collect();
    crates.sort();
    crates.dedup();
    Ok(crates.len())
}

/// The local dev release: a first run in a fresh clone against a rerun with nothing changed,
/// and the whole run against the raw `cargo build` + `docker buildx build` it drives.
fn dev_release_rows(sh: &Shell, root: &Utf8Path, work: &Utf8Path, xtask: &Utf8Path) -> Result<Vec<Row>> {
    let clone = work.join("dev-release-clone");
    let _ = std::fs::remove_dir_all(&clone);
    cmd!(sh, "git clone -q {root} {clone}").run()?;
    let target_dir = work.join("dev-release-target");
    let _ = std::fs::remove_dir_all(&target_dir);
    let _dir = sh.push_dir(&clone);
    let _env = sh.push_env("CARGO_TARGET_DIR", &target_dir);
    let step = measuring("local dev release: first run in a fresh clone, then a rerun");
    let first = time(&mut || Ok(cmd!(sh, "{xtask} -q dev-release --local").quiet().ignore_stdout().run()?))?;
    let mut reruns = Vec::new();
    for _ in 0..3 {
        reruns.push(time(&mut || Ok(cmd!(sh, "{xtask} -q dev-release --local").quiet().ignore_stdout().run()?))?);
    }
    step.done();

    // What a dry run costs now that it makes the preflight (docker, buildx, qemu, host facts) and
    // plans every step, against reading the version alone.
    let step = measuring("dry run: plan, preflight and steps, against `version`");
    let mut dry = Vec::new();
    let mut version = Vec::new();
    for _ in 0..5 {
        dry.push(time(&mut || {
            Ok(cmd!(sh, "{xtask} -q dev-release --local --dry-run").quiet().ignore_stdout().run()?)
        })?);
        version.push(time(&mut || Ok(cmd!(sh, "{xtask} -q version").quiet().ignore_stdout().run()?))?);
    }
    step.done();

    // The same work by hand: cargo build for the three targets, then the two docker builds.
    let step = measuring("xtask overhead: whole dev release against raw cargo build + docker buildx build");
    // A change to the service's source, so cargo rebuilds it.
    let src = clone.join(SERVICE).join("src");
    let touch = if src.join("lib.rs").exists() { src.join("lib.rs") } else { src.join("main.rs") };
    let mut whole = Vec::new();
    let mut raw = Vec::new();
    // Five pairs: each side is mostly a ~8 s cargo build whose own noise is a few percent.
    for _ in 0..5 {
        cmd!(sh, "touch {touch}").run()?;
        whole.push(time(&mut || Ok(cmd!(sh, "{xtask} -q dev-release --local").quiet().ignore_stdout().run()?))?);
        cmd!(sh, "touch {touch}").run()?;
        raw.push(time(&mut || {
            cmd!(sh, "cargo build --quiet --release --locked -p service --target x86_64-unknown-linux-musl --target aarch64-unknown-linux-gnu --target armv7-unknown-linux-gnueabihf").quiet().run()?;
            cmd!(sh, "docker buildx build --quiet --platform linux/amd64,linux/arm64,linux/arm/v7 --provenance=false --tag service:bench-raw --load docker").quiet().ignore_stdout().run()?;
            cmd!(sh, "docker buildx build --quiet --platform linux/arm/v7 --provenance=false --tag service:rpi-bench-raw --load rpi-docker").quiet().ignore_stdout().run()?;
            Ok(())
        })?);
    }
    step.done();
    let (whole, raw) = (Stats::of(whole), Stats::of(raw));
    let (dry, version) = (Stats::of(dry), Stats::of(version));
    Ok(vec![
        Row {
            what: "dry run of a local dev release: plan, preflight, steps (vs `xtask version`)".into(),
            ours: dry,
            theirs: Some(version),
            goal: "< 1 s".into(),
            note: format!("the preflight and step planning add {}", fmt_secs((dry.median - version.median).max(0.0))),
        },
        Row {
            what: "local dev release, nothing changed (rerun vs first run in a fresh clone)".into(),
            ours: Stats::of(reruns),
            theirs: Some(Stats::once(first)),
            goal: "≤ 10%".into(),
            note: String::new(),
        },
        Row {
            what: "xtask overhead on a local dev release (whole run vs raw cargo build + docker buildx build)".into(),
            ours: whole,
            theirs: Some(raw),
            goal: "≤ 5% overhead".into(),
            note: format!("overhead {}", fmt_secs((whole.median - raw.median).max(0.0))),
        },
    ])
}

fn report(rows: &[Row], quick: bool, sh: &Shell) -> Result<String> {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("model name").map(|m| m.trim_start_matches([' ', '\t', ':']).to_owned()))
        .unwrap_or_default();
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let mem = std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .next()
        .unwrap_or("")
        .split_whitespace()
        .nth(1)
        .and_then(|k| k.parse::<u64>().ok())
        .unwrap_or(0)
        / 1024
        / 1024;
    let now = cmd!(sh, "date -u +%Y-%m-%dT%H:%M:%SZ").quiet().read()?;
    let git = cmd!(sh, "git --version").quiet().read().unwrap_or_default();
    let mut out = String::new();
    let _ = writeln!(out, "# Benchmarks\n");
    let _ = writeln!(
        out,
        "Made by `cargo xtask bench{}` on {} ({cores} cores, {mem} GiB; {cpu}; {git}), {}.",
        if quick { " --quick" } else { "" },
        std::env::consts::ARCH,
        now
    );
    let _ =
        writeln!(out, "Each pair ran alternately in one process; times are median (min–max). Ratio = ours / theirs.\n");
    let _ = writeln!(out, "| what | ours | against | ratio | goal | |");
    let _ = writeln!(out, "|---|---|---|---|---|---|");
    for r in rows {
        let (against, ratio) = match r.theirs {
            Some(t) => (t.show(), format!("{:.2}×", r.ours.median / t.median)),
            None => ("—".to_owned(), "—".to_owned()),
        };
        let _ = writeln!(out, "| {} | {} | {against} | {ratio} | {} | {} |", r.what, r.ours.show(), r.goal, r.note);
    }
    Ok(out)
}

/// `--only rebuild`: the rows of `rebuild_and_mirror_rows`.
fn rebuild_only() -> Result<()> {
    only(rebuild_and_mirror_rows)
}

/// What proving a release and mirroring it cost. `rebuild VERSION --check` against the release's
/// own run of that version, each in a target directory of its own: cold (both fresh), then warm
/// (the next version, both targets warm); the goal is the same work without the push. And a
/// mirror's copy of the pushed three-platform image (registry to registry, digests kept)
/// against the push of its archive.
fn rebuild_and_mirror_rows(sh: &Shell, root: &Utf8Path, work: &Utf8Path, xtask: &Utf8Path) -> Result<Vec<Row>> {
    let step = measuring("rebuild and mirror: a release against its rebuild, a mirror copy against the push");
    let registry = bench_registry(sh, work)?;
    let mirror = bench_registry(sh, &work.join("mirror"))?;
    let repository = format!("127.0.0.1:{}/bench/rebuild", registry.port);
    let mirrored = format!("127.0.0.1:{}/bench/rebuild", mirror.port);
    let clone = work.join("rebuild-clone");
    let (release_target, rebuild_target) = (work.join("rebuild-release-target"), work.join("rebuild-rebuild-target"));
    for dir in [&clone, &release_target, &rebuild_target] {
        let _ = std::fs::remove_dir_all(dir);
    }
    cmd!(sh, "git clone -q {root} {clone}").run()?;
    let _in = sh.push_dir(&clone);
    let _repository = sh.push_env("RELEASE_REPOSITORY", &repository);
    let git = ["-c", "user.name=Bench", "-c", "user.email=bench@example.com"];
    let mut pairs = Vec::new();
    for version in ["9.9.0", "9.9.1"] {
        if version != "9.9.0" {
            cmd!(sh, "git {git...} commit -q --allow-empty -m {version}").run()?;
        }
        cmd!(sh, "git tag {version}").run()?;
        let release = time(&mut || {
            let _target = sh.push_env("CARGO_TARGET_DIR", &release_target);
            Ok(cmd!(sh, "{xtask} -q release").quiet().ignore_stdout().run()?)
        })?;
        let rebuild = time(&mut || {
            let _target = sh.push_env("CARGO_TARGET_DIR", &rebuild_target);
            Ok(cmd!(sh, "{xtask} -q rebuild {version} --check").quiet().ignore_stdout().ignore_stderr().run()?)
        })?;
        pairs.push((release, rebuild));
    }
    // The push of a three-platform archive against a mirror's copy of what it pushed.
    let archive = work.join("rebuild-bench.oci.tar");
    let output = format!("type=oci,dest={archive},rewrite-timestamp=true");
    cmd!(sh, "docker buildx build --quiet --platform linux/amd64,linux/arm64,linux/arm/v7 --provenance=false --output {output} docker").quiet().ignore_stdout().run()?;
    let (mut pushes, mut copies) = (Vec::new(), Vec::new());
    for n in 0..5 {
        let (from, to) = (format!("oci-archive:{archive}"), format!("docker://{repository}:push-{n}"));
        pushes.push(time(&mut || {
            Ok(cmd!(sh, "skopeo copy --quiet --all --preserve-digests --dest-tls-verify=false {from} {to}")
                .quiet()
                .run()?)
        })?);
        let (from, to) = (format!("docker://{repository}:9.9.0"), format!("docker://{mirrored}:copy-{n}"));
        copies.push(time(&mut || {
            Ok(cmd!(sh, "skopeo copy --quiet --all --preserve-digests --src-tls-verify=false --dest-tls-verify=false {from} {to}")
                .quiet()
                .run()?)
        })?);
    }
    step.done();
    let row = |what: &str, (release, rebuild): (f64, f64)| Row {
        what: what.into(),
        ours: Stats::once(rebuild),
        theirs: Some(Stats::once(release)),
        goal: "≤ 1.1× the release's own run".into(),
        note: String::new(),
    };
    Ok(vec![
        row("`rebuild VERSION --check` vs the release's own run of it, cold target directories (one run each)", pairs[0]),
        row("`rebuild VERSION --check` vs the release's own run of it, warm target directories (one run each)", pairs[1]),
        Row {
            what: "a mirror's copy of a pushed three-platform image (registry to registry, digests kept) vs the push of its archive".into(),
            ours: Stats::of(copies),
            theirs: Some(Stats::of(pushes)),
            goal: "≤ 1 s per image per mirror: copied, never rebuilt".into(),
            note: "per image per mirror; a signed image adds one `cosign copy` of its signatures".into(),
        },
    ])
}

/// A plain registry of the bench's own on a free loopback port, stopped on drop.
struct BenchRegistry {
    pid: String,
    port: u16,
}

impl Drop for BenchRegistry {
    fn drop(&mut self) {
        if let Ok(sh) = Shell::new() {
            let pid = &self.pid;
            let _ = cmd!(sh, "kill {pid}").quiet().ignore_stderr().run();
        }
    }
}

fn bench_registry(sh: &Shell, work: &Utf8Path) -> Result<BenchRegistry> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let dir = work.join("registry");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let config = dir.join("config.yml");
    std::fs::write(&config, format!("version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {dir}/data\nhttp:\n  addr: 127.0.0.1:{port}\n"))?;
    // In the background, beside the bench; its pid comes back to stop it.
    let script = format!("docker-registry serve {config} >{dir}/registry.log 2>&1 & echo $!");
    let pid = cmd!(sh, "sh -c {script}").quiet().read().context("starting docker-registry")?;
    let registry = BenchRegistry { pid: pid.trim().to_owned(), port };
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok(registry);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    anyhow::bail!("docker-registry did not start on port {port}")
}

/// What placing a release's moving tags costs now that each is decided on a fresh read of the
/// registry (the candidate's images, labels and git tag checked), copied by digest and read
/// again: `reconcile --apply` over three moving tags left on an older release, in a workspace of
/// one context and one platform; against three blind `skopeo copy`s.
fn moving_tags_row(sh: &Shell, work: &Utf8Path, xtask: &Utf8Path, runs: usize) -> Result<Row> {
    let step = measuring("moving tags: reconcile --apply against blind copies");
    let registry = bench_registry(sh, work)?;
    let repository = format!("127.0.0.1:{}/bench/tiny", registry.port);
    let ws = work.join("tiny");
    write_tree(
        &ws,
        &[
            ("Cargo.toml", format!("[workspace]\nmembers = [\"tiny\"]\nresolver = \"2\"\n\n[workspace.metadata.release-pipeline]\nimage = \"{repository}\"\n\n[[workspace.metadata.release-pipeline.context]]\ndir = \"image\"\nplatforms = [\"linux/amd64\"]\n")),
            ("tiny/Cargo.toml", "[package]\nname = \"tiny\"\nversion = \"0.1.0\"\nedition = \"2021\"\n".into()),
            ("tiny/src/main.rs", "fn main() {}\n".into()),
            ("image/Dockerfile", "FROM scratch\nARG V\nARG R\nLABEL org.opencontainers.image.version=$V org.opencontainers.image.revision=$R org.release-pipeline.context=image\nCOPY v /v\n".into()),
        ],
    )?;
    let _in = sh.push_dir(&ws);
    let git = ["-c", "user.name=Bench", "-c", "user.email=bench@example.com"];
    cmd!(sh, "git init -q -b main").run()?;
    cmd!(sh, "git add -A").run()?;
    cmd!(sh, "git {git...} commit -q -m bench").run()?;
    let commit = cmd!(sh, "git rev-parse HEAD").read()?;
    let (old, new) = ("0.9.0", "1.0.0");
    for version in [old, new] {
        cmd!(sh, "git tag {version}").run()?;
        std::fs::write(ws.join("image/v"), version)?;
        let tag = format!("{repository}:{version}");
        cmd!(sh, "docker buildx build --quiet --platform linux/amd64 --provenance=false --build-arg V={version} --build-arg R={commit} --tag {tag} --push image").quiet().ignore_stdout().run()?;
    }
    let moving = ["1.0", "1", "latest"];
    let copy = |from: &str, to: &str| -> Result<()> {
        let (from, to) = (format!("docker://{repository}:{from}"), format!("docker://{repository}:{to}"));
        Ok(cmd!(
            sh,
            "skopeo copy --quiet --all --preserve-digests --src-tls-verify=false --dest-tls-verify=false {from} {to}"
        )
        .quiet()
        .run()?)
    };
    let reset = || -> Result<()> {
        for tag in moving {
            copy(old, tag)?;
        }
        Ok(())
    };
    let reconcile = || -> Result<()> { Ok(cmd!(sh, "{xtask} -q reconcile --apply").quiet().ignore_stdout().run()?) };
    // The first run also places `0.9`, which stays.
    reset()?;
    reconcile()?;
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    for _ in 0..runs.min(5) {
        reset()?;
        ours.push(time(&mut || reconcile())?);
        reset()?;
        theirs.push(time(&mut || {
            for tag in moving {
                copy(new, tag)?;
            }
            Ok(())
        })?);
    }
    step.done();
    let (ours, theirs) = (Stats::of(ours), Stats::of(theirs));
    Ok(Row {
        what: "moving tags of a release: `reconcile --apply`, deciding on a fresh read, copying, reading again (3 tags) vs blind skopeo copies".into(),
        ours,
        theirs: Some(theirs),
        goal: "≤ 1 s added per image".into(),
        note: format!(
            "added {} per image; a retry costs nothing until a call fails",
            fmt_secs((ours.median - theirs.median).max(0.0))
        ),
    })
}

/// What signing adds to a dev release pushed to a registry: the same dev release of this
/// workspace signed (`sign = "all"`: an SBOM per target, a provenance per image, the
/// attestations, the signatures, `sign-blob` of `SHA256SUMS`) against unsigned, each in its own
/// clone and target directory (the signed clone has one commit more: another version, so
/// another build), on warm cargo and buildx caches (the first pair warms them and is not
/// counted).
fn signing_row(sh: &Shell, root: &Utf8Path, work: &Utf8Path, xtask: &Utf8Path, runs: usize) -> Result<Row> {
    let step = measuring("signing: a signed dev release against the same unsigned");
    let registry = bench_registry(sh, work)?;
    let repository = format!("127.0.0.1:{}/bench/signing", registry.port);
    let _repository = sh.push_env("RELEASE_REPOSITORY", &repository);
    let (signed, unsigned) = (work.join("signing-signed"), work.join("signing-unsigned"));
    for clone in [&signed, &unsigned] {
        let _ = std::fs::remove_dir_all(clone);
        cmd!(sh, "git clone -q {root} {clone}").run()?;
    }
    let (password, key) = {
        let _in = sh.push_dir(&signed);
        let password = key_pair(sh)?;
        let key = std::fs::read_to_string(signed.join("cosign.key"))?;
        std::fs::remove_file(signed.join("cosign.key"))?;
        let mut manifest = std::fs::read_to_string(signed.join("Cargo.toml"))?;
        manifest
            .push_str("\n[workspace.metadata.release-pipeline.signing]\nsign = \"all\"\npublic-key = \"cosign.pub\"\n");
        std::fs::write(signed.join("Cargo.toml"), manifest)?;
        cmd!(sh, "git add Cargo.toml cosign.pub").run()?;
        cmd!(sh, "git -c user.name=Bench -c user.email=bench@example.com commit -q -m signing").run()?;
        (password, key)
    };
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    for n in 0..=runs.min(3) {
        let _in = sh.push_dir(&signed);
        let _target = sh.push_env("CARGO_TARGET_DIR", work.join("signing-signed-target"));
        let branch = format!("bench-signed-{n}");
        ours.push(time(&mut || {
            Ok(cmd!(sh, "{xtask} -q dev-release --branch {branch}")
                .env("COSIGN_PRIVATE_KEY", &key)
                .env("COSIGN_PASSWORD", &password)
                .quiet()
                .ignore_stdout()
                .run()?)
        })?);
        let _in = sh.push_dir(&unsigned);
        let _target = sh.push_env("CARGO_TARGET_DIR", work.join("signing-unsigned-target"));
        let branch = format!("bench-unsigned-{n}");
        theirs.push(time(&mut || {
            Ok(cmd!(sh, "{xtask} -q dev-release --branch {branch}").quiet().ignore_stdout().run()?)
        })?);
    }
    // The signed side did sign: cosign's signature tags are there.
    let tags = cmd!(sh, "skopeo list-tags --tls-verify=false docker://{repository}").quiet().read()?;
    anyhow::ensure!(tags.contains(".sig\""), "the signed dev releases left no signature in {repository}: {tags}");
    step.done();
    let counted = |samples: Vec<f64>| Stats::of(samples.into_iter().skip(1).collect());
    let (ours, theirs) = (counted(ours), counted(theirs));
    Ok(Row {
        what: "signing a dev release of a three-platform and a one-platform image: SBOMs, provenances, attestations, signatures, sign-blob (vs the same dev release unsigned), pushed".into(),
        ours,
        theirs: Some(theirs),
        goal: "≤ 3 s added per three-platform image, ≤ 1 s per one-platform image".into(),
        note: format!("signing adds {}", fmt_secs((ours.median - theirs.median).max(0.0))),
    })
}

/// A second `dockerd` beside the default one, on the same containerd with its own socket, data
/// root, namespaces and bridge (`../shared/docs/real-docker-stack.md`: never `--bridge=none`),
/// registered as a docker context; stopped and removed on drop.
struct SecondEngine {
    dir: Utf8PathBuf,
    pid: String,
    bridge: String,
    context: String,
}

impl SecondEngine {
    fn start(sh: &Shell) -> Result<SecondEngine> {
        let id = std::process::id() % 100_000;
        let (bridge, context) = (format!("br-bench{id}"), format!("bench-node2-{id}"));
        // Short: the engine's sockets live under it.
        let dir = Utf8PathBuf::try_from(std::env::temp_dir())?.join(format!("bench-node2-{id}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)?;
        let _ = cmd!(sh, "ip link del {bridge}").quiet().ignore_stderr().run();
        cmd!(sh, "ip link add {bridge} type bridge").quiet().run()?;
        cmd!(sh, "ip addr add 172.30.251.1/24 dev {bridge}").quiet().run()?;
        cmd!(sh, "ip link set {bridge} up").quiet().run()?;
        let namespace = format!("bench-node2-{id}");
        let script = format!(
            "dockerd --data-root {dir}/data --exec-root {dir}/exec --pidfile {dir}/docker.pid -H unix://{dir}/docker.sock \
             --bridge {bridge} --iptables=false --ip6tables=false --containerd /run/containerd/containerd.sock \
             --containerd-namespace {namespace} --containerd-plugins-namespace {namespace}-plugins >{dir}/dockerd.log 2>&1 & echo $!"
        );
        let pid = cmd!(sh, "sh -c {script}").quiet().read().context("starting a second dockerd")?.trim().to_owned();
        let engine = SecondEngine { dir, pid, bridge, context };
        let host = engine.host();
        let started = Instant::now();
        while cmd!(sh, "docker -H {host} info").quiet().ignore_stdout().ignore_stderr().run().is_err() {
            if started.elapsed() > Duration::from_secs(60) {
                let log = std::fs::read_to_string(engine.dir.join("dockerd.log")).unwrap_or_default();
                anyhow::bail!("the second engine did not start: {log}");
            }
            std::thread::sleep(Duration::from_millis(300));
        }
        let name = &engine.context;
        let _ = cmd!(sh, "docker context rm --force {name}").quiet().ignore_stdout().ignore_stderr().run();
        let endpoint = format!("host={host}");
        cmd!(sh, "docker context create {name} --docker {endpoint}").quiet().ignore_stdout().run()?;
        Ok(engine)
    }

    fn host(&self) -> String {
        format!("unix://{}/docker.sock", self.dir)
    }
}

impl Drop for SecondEngine {
    fn drop(&mut self) {
        let Ok(sh) = Shell::new() else { return };
        let (context, pid, bridge) = (&self.context, &self.pid, &self.bridge);
        let _ = cmd!(sh, "docker context rm --force {context}").quiet().ignore_stdout().ignore_stderr().run();
        let _ = cmd!(sh, "kill {pid}").quiet().ignore_stderr().run();
        let started = Instant::now();
        while cmd!(sh, "kill -0 {pid}").quiet().ignore_stderr().run().is_ok()
            && started.elapsed() < Duration::from_secs(20)
        {
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = cmd!(sh, "ip link del {bridge}").quiet().ignore_stderr().run();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A dev release spread over two engines, as `tests/parts.rs` runs it: the x86_64 part on the
/// default engine and the two ARM parts on a second one, side by side, each in its own clone,
/// then the merge; against one whole dev release on the default engine. Every run pushes a new
/// branch of one commit to a registry of the bench's own, with warm cargo and buildx caches
/// (the first pair warms them and is not counted). On this 2-core machine both engines share the
/// same two cores, so the parts cannot finish sooner than one run: the figure is what splitting
/// costs, not what it gains on separate machines.
fn parts_row(sh: &Shell, root: &Utf8Path, work: &Utf8Path, xtask: &Utf8Path) -> Result<Row> {
    let step = measuring("parts: three --part runs on two engines and a merge, against one dev release");
    let registry = bench_registry(sh, work)?;
    let node2 = SecondEngine::start(sh)?;
    let _target = sh.push_env("CARGO_TARGET_DIR", work.join("dev-release-target"));
    let _repository = sh.push_env("RELEASE_REPOSITORY", format!("127.0.0.1:{}/bench/service", registry.port));
    let targets = TARGETS;
    let mut clones = Vec::new();
    for target in &targets {
        let clone = work.join(format!("parts-clone-{target}"));
        let _ = std::fs::remove_dir_all(&clone);
        cmd!(sh, "git clone -q {root} {clone}").run()?;
        clones.push(clone);
    }
    let (mut split, mut whole, mut merges) = (Vec::new(), Vec::new(), Vec::new());
    for n in 0..4 {
        let branch = format!("bench-parts-{n}");
        split.push(time(&mut || {
            let mut script = String::new();
            for (i, (target, clone)) in targets.iter().zip(&clones).enumerate() {
                let context = if target.starts_with("x86_64") { "default" } else { node2.context.as_str() };
                let part = [xtask.as_str(), "-q", "dev-release", "--branch", &branch, "--part", target];
                script.push_str(&format!(
                    "(cd {} && DOCKER_CONTEXT={context} exec {} >/dev/null) & p{i}=$!\n",
                    shell_words::quote(clone.as_str()),
                    shell_words::join(part)
                ));
            }
            let waits: Vec<String> = (0..targets.len()).map(|i| format!("wait $p{i}")).collect();
            script.push_str(&waits.join(" && "));
            cmd!(sh, "sh -c {script}").quiet().run()?;
            let parts: Vec<Utf8PathBuf> = targets
                .iter()
                .zip(&clones)
                .map(|(t, clone)| clone.join("dist").join(format!("part-{t}.json")))
                .collect();
            let parts = &parts;
            let _dir = sh.push_dir(&clones[0]);
            merges.push(time(&mut || Ok(cmd!(sh, "{xtask} -q merge {parts...}").quiet().ignore_stdout().run()?))?);
            Ok(())
        })?);
        let branch = format!("bench-whole-{n}");
        let _dir = sh.push_dir(&clones[0]);
        whole.push(time(&mut || {
            Ok(cmd!(sh, "{xtask} -q dev-release --branch {branch}").quiet().ignore_stdout().run()?)
        })?);
    }
    drop(node2);
    step.done();
    let counted = |samples: Vec<f64>| Stats::of(samples.into_iter().skip(1).collect());
    let (split, whole, merges) = (counted(split), counted(whole), counted(merges));
    Ok(Row {
        what: "dev release in three parts on two engines side by side, then merge (vs one run on one engine), pushed"
            .into(),
        ours: split,
        theirs: Some(whole),
        goal: "merge ≤ 10 s; reported: 2 cores shared by both engines".into(),
        note: format!("the merge alone {}", fmt_secs(merges.median)),
    })
}
