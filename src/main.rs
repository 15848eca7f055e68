//! The `imsight` binary: parse the command line, run the command, map failures to exit codes.

use std::process::ExitCode;

use clap::Parser;
use imsight::cli::Cli;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.execute() {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("imsight: {error}");
            ExitCode::from(error.exit_code())
        }
    }
}
