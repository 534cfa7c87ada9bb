//! Carries a `ReleasePlan` out. Decides nothing: every decision is in the plan.
use anyhow::{bail, Result};

use crate::{pipeline::Options, plan::{PlanInput, ReleasePlan}};

pub(crate) fn execute(_plan: &ReleasePlan, _input: &PlanInput, _root: &camino::Utf8Path, _opts: &Options) -> Result<()> {
    bail!("executing a plan is not implemented yet")
}
