fn main() -> std::process::ExitCode {
    release_pipeline::main()
}
