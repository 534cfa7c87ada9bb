//! `cargo xtask`: this workspace's caller of the release pipeline (`release-pipeline/`), as
//! another workspace adopts it (README: "Adopting the pipeline in another workspace"), and of
//! `bench`, this repository's benchmarks, which the library its adopters depend on leaves out.
mod bench;

fn main() -> std::process::ExitCode {
    match std::env::args_os().nth(1) {
        Some(command) if command == "bench" => bench::main(),
        _ => release_pipeline::main(),
    }
}
