//! The `kpartx` binary: a thin wrapper over the library's front end.

fn main() -> std::process::ExitCode {
    kpartx::out::defer_sigpipe();
    kpartx::cli::main(std::env::args_os().skip(1).collect()).into()
}
