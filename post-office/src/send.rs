//! `post-office send`.

/// `send`'s options.
#[derive(clap::Args)]
pub struct Args {}

/// Sends.
pub async fn run(_args: Args) -> anyhow::Result<std::process::ExitCode> {
    Ok(std::process::ExitCode::SUCCESS)
}
