//! The `cyplam-worker` binary: everything lives in the library (`cyplam_worker::cli`).

fn main() -> std::process::ExitCode {
    cyplam_worker::cli::main()
}
