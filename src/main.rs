//! `kalends`: parse the command line, run it, and turn a failure into one line on stderr.

use clap::Parser as _;

fn main() -> std::process::ExitCode {
    let cli = kalends::cli::Cli::parse();
    match kalends::cli::main(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kalends: {}", one_line(&format!("{e:#}")));
            std::process::ExitCode::FAILURE
        }
    }
}

/// An error's text on one line: a cause that spans several (a TOML error with its excerpt of
/// the file) is joined with spaces.
fn one_line(text: &str) -> String {
    text.lines().map(str::trim).filter(|line| !line.is_empty()).collect::<Vec<_>>().join(" ")
}
