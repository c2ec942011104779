//! `kalends`: parse the command line, run it, and turn a failure into one line on stderr.

use clap::Parser as _;

fn main() -> std::process::ExitCode {
    let cli = kalends::cli::Cli::parse();
    match kalends::cli::main(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kalends: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
