//! The `kpartx` binary: a thin wrapper over the library's front end.

fn main() {
    kpartx::out::defer_sigpipe();
    let status = kpartx::cli::main(std::env::args_os().skip(1).collect());
    std::process::exit(status);
}
