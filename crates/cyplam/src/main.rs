//! The `cyplam` binary: everything lives in the library (`cyplam::cli`).

fn main() -> std::process::ExitCode {
    cyplam::cli::main()
}
