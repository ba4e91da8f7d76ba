//! CLI entry: arguments -> logging -> app -> exit code.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = postbode::cli::args::Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_env("POSTBODE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match cli.log_format {
        postbode::cli::args::LogFormat::Json => logs.json().init(),
        postbode::cli::args::LogFormat::Text => logs.init(),
    }
    let outcome = postbode::cli::run(cli);
    ExitCode::from(outcome.code())
}
