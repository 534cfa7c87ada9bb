//! `cargo xtask`: this workspace's caller of the release pipeline (`release-pipeline/`), as
//! another workspace adopts it (README: "Adopting the pipeline in another workspace").
fn main() -> std::process::ExitCode {
    release_pipeline::main()
}
