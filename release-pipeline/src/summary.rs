//! The summary a run ends with: each image's tags, digest and result, each crate's, and the
//! time; also written to GitHub Actions' job summary.
use std::{fmt::Write as _, time::Instant};

use anstream::eprint;

use crate::{
    plan::{CrateAction, ReleasePlan},
    ui,
};

/// What happened to one image.
#[derive(Default)]
pub(crate) struct Outcome {
    pub(crate) digest: Option<String>,
    /// Primary tags this run wrote (or found already right), each checked by a verify step.
    pub(crate) written: Vec<String>,
    /// Moving tags, each confirmed on its release by the point-tag step's last read.
    pub(crate) moved: Vec<String>,
    /// Moving tags left where they are, with the reason.
    pub(crate) kept: Vec<String>,
    pub(crate) note: String,
}

pub(crate) fn summary(plan: &ReleasePlan, outcomes: &[Outcome], published: &[CrateAction], started: Instant) {
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
    for (image, o) in plan.images.iter().zip(outcomes) {
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
    }
    for p in published {
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
