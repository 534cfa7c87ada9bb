//! Links the `xtask` binary as a position-dependent executable on Linux. A PIE of this size
//! carries about 30,000 relative relocations that the dynamic loader applies, page by page, on
//! every start; `version` is meant to answer as fast as `git describe`, and this start-up was a
//! tenth of its time (BENCHMARKS.md). Address randomization of the binary's own code is what
//! is given up, for a tool run from a checkout, not a service.
fn main() {
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        println!("cargo:rustc-link-arg-bins=-no-pie");
    }
}
