//! CLI entry: arguments -> logging -> app -> exit code.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = postbode::cli::Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("POSTBODE_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let outcome = postbode::app::run(cli);
    ExitCode::from(outcome.code())
}
