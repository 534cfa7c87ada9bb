//! `release-pipeline`, the binary `cargo install release-pipeline` installs: `init` adopts the
//! pipeline in a repository (the library's `init.rs`).
fn main() -> std::process::ExitCode {
    release_pipeline::tool()
}
