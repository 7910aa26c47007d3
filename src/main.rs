use clap::Parser as _;

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
