//! The summary a run ends with: each image's tags, digest and result, each crate's, and the
//! time; also written to GitHub Actions' job summary.
use std::{fmt::Write as _, time::Instant};

use anstream::eprint;

use crate::ui;
use release_pipeline_plan::plan::{
    outcome::{Outcome, Record},
    step::Step,
    step::StepId,
    steps::CrateAction,
    steps::PublishState,
    ReleasePlan,
};

/// What happened to one image.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct ImageOutcome {
    pub(crate) digest: Option<String>,
    /// Primary tags this run wrote (or found already right), each checked by a verify step.
    pub(crate) written: Vec<String>,
    /// Moving tags, each confirmed on its release by the move-tags step's last read.
    pub(crate) moved: Vec<String>,
    /// Moving tags left where they are, with the reason.
    pub(crate) kept: Vec<String>,
    /// The mirrors' tags it reached, each checked by a verify step.
    pub(crate) mirrored: Vec<String>,
    pub(crate) note: String,
}

/// What happened to each image of `plan`, from its steps and what each did: pure.
pub(crate) fn image_outcomes(plan: &ReleasePlan, record: &Record) -> Vec<ImageOutcome> {
    let mut images: Vec<ImageOutcome> = plan.images.iter().map(|_| ImageOutcome::default()).collect();
    let on_mirror = |reference: &str| {
        plan.mirrors.iter().any(|m| reference.strip_prefix(m.repository.as_str()).is_some_and(|r| r.starts_with(':')))
    };
    for (n, (step, outcome)) in record.steps.iter().zip(record.outcomes).enumerate() {
        let id = StepId(n);
        match (step, outcome) {
            (Step::Skip { image: Some(i), digest: Some(digest), .. }, _) => {
                images[*i].digest = Some(digest.to_string());
                images[*i].note = "already released; ".to_owned();
            }
            (Step::Skip { image: Some(i), digest: None, what, .. }, _) if what.starts_with("build ") => {
                images[*i].note =
                    "skipped: the registry holds a newer build, or one this checkout cannot place".to_owned();
            }
            (Step::Build { image: i, .. } | Step::Assemble { image: i, .. } | Step::Promote { image: i, .. }, _) => {
                match record.digest_of(id) {
                    Some(digest) => {
                        images[*i].digest = Some(digest.to_string());
                        if matches!(outcome, Outcome::Skipped { .. }) {
                            images[*i].note = "already released; ".to_owned();
                        }
                    }
                    None if matches!(outcome, Outcome::Skipped { .. }) => {
                        images[*i].note = "skipped: another run pushed a newer build meanwhile".to_owned();
                    }
                    None => {}
                }
            }
            // A mirror's steps count only as the mirror's tag its check confirmed.
            (Step::Verify { image: i, reference, .. }, Outcome::Done) if on_mirror(reference) => {
                images[*i].mirrored.push(reference.clone());
            }
            (Step::MoveTags { image: i, repository, .. }, _) if *repository != plan.images[*i].repository => {}
            (Step::MoveTags { image: i, .. }, Outcome::Moved(moved)) => {
                images[*i].moved.extend(moved.at_home.iter().cloned());
                images[*i].kept.extend(moved.kept.iter().cloned());
            }
            (Step::Verify { image: i, .. }, Outcome::Done) => {
                let image = &mut images[*i];
                image.written.push(plan.images[*i].primary_tag().to_owned());
                let verified = format!("verified {} tag(s)", 1 + image.moved.len());
                image.note.push_str(&verified);
            }
            _ => {}
        }
    }
    for (image, outcome) in plan.images.iter().zip(&mut images) {
        if !image.push && outcome.digest.is_some() {
            outcome.note = if plan.local { "local engine".to_owned() } else { "built, not pushed".to_owned() };
        }
    }
    images
}

/// Each crate of the run and what became of it: published by a `publish` step that ran, or
/// what the preflight found.
fn crates_run<'a>(crates: &'a [CrateAction], record: &Record) -> Vec<&'a CrateAction> {
    crates
        .iter()
        .filter(|c| {
            c.state != PublishState::Publish
                || record
                    .steps
                    .iter()
                    .zip(record.outcomes)
                    .any(|(s, o)| matches!((s, o), (Step::Publish { krate, .. }, Outcome::Done) if *krate == c.krate))
        })
        .collect()
}

pub(crate) fn summary(plan: &ReleasePlan, crates: &[CrateAction], record: &Record, started: Instant) {
    let outcomes = image_outcomes(plan, record);
    let mut text = String::new();
    let mut md = String::from("| image | platforms | tags | digest | result |\n|---|---|---|---|---|\n");
    let _ = writeln!(
        text,
        "\n{} {} {} ({})",
        ui::paint("summary:", "1"),
        plan.kind.as_str(),
        plan.version.semver,
        plan.reason
    );
    for (image, o) in plan.images.iter().zip(&outcomes) {
        let written: Vec<&str> = o.written.iter().chain(&o.moved).map(String::as_str).collect();
        let tags = if written.is_empty() { image.tags().join(", ") } else { written.join(", ") };
        let digest = o.digest.as_deref().map(|d| &d[..d.len().min(19)]).unwrap_or("-");
        let _ = writeln!(
            text,
            "  {}/ {} [{}]\n    tags: {tags}\n    digest: {digest}  {}",
            image.context,
            image.repository,
            image.platforms.join(", "),
            o.note
        );
        let _ = writeln!(
            md,
            "| `{}` | {} | {tags} | `{}` | {} |",
            image.repository,
            image.platforms.join(", "),
            o.digest.as_deref().unwrap_or("-"),
            o.note
        );
        for kept in &o.kept {
            let _ = writeln!(text, "    kept: {kept}");
        }
        if !o.mirrored.is_empty() {
            let _ = writeln!(text, "    mirrored: {}", o.mirrored.join(", "));
            let _ = writeln!(md, "| mirrors | | {} | same digest | verified |", o.mirrored.join(", "));
        }
    }
    for p in crates_run(crates, record) {
        let _ = writeln!(text, "  crate {} {}: {}", p.krate, p.version, p.describe());
        let _ = writeln!(md, "| crate `{}` | | {} | | {} |", p.krate, p.version, p.describe());
    }
    let _ = writeln!(text, "  total {:.1}s", started.elapsed().as_secs_f64());
    eprint!("{text}");
    if let Ok(path) = std::env::var("GITHUB_STEP_SUMMARY") {
        let body = format!(
            "### {} {}\n\n{}\n\n{md}\nTotal {:.1}s\n",
            plan.kind.as_str(),
            plan.version.semver,
            plan.reason,
            started.elapsed().as_secs_f64()
        );
        let _ = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .and_then(|mut f| std::io::Write::write_all(&mut f, body.as_bytes()));
    }
}
