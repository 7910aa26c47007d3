use clap::Parser as _;

/// mimalloc instead of glibc malloc: the request paths allocate many small JSON values on many
/// threads, and glibc's malloc and free were a fifth of the server's time (BENCHMARKS.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let cli = licence_vault::cli::Cli::parse();
    match licence_vault::cli::run(cli) {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::exit(2);
        }
    }
}
