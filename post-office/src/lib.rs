//! `post-office`: a small, real mail program on the sans-IO crates. SMTP in, relaying out
//! through a durable queue, POP3 out, a Maildir between (`serve`); the queue's listing
//! (`queue`); a submission client (`send`) and a fetcher (`fetch`). The
//! protocols live in `smtp-proto` and `pop3-proto`, the sockets, TLS and timers in `mail-io`;
//! what is here is the listeners, the policy (users, domains, authentication) and the store.

// The library exists for the binary and the peer tests: its modules are internal.
#![allow(unreachable_pub, missing_docs)]

mod auth;
mod delivery;
mod dsn;
// The queue and its envelopes are public for the peer tests (tests/tests/queue.rs).
pub mod envelope;
mod fetch;
mod files;
mod maildir;
mod pop3;
pub mod queue;
mod queue_cli;
mod relay;
mod send;
mod serve;
mod smtp;
mod tls;
mod trace;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "post-office",
    version,
    about = "SMTP in, POP3 out, a Maildir between"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the SMTP and POP3 servers.
    // Boxed: by far the largest of the commands.
    Serve(Box<serve::Args>),
    /// Send a message over SMTP (or LMTP).
    Send(send::Args),
    /// Fetch messages over POP3 into a Maildir.
    Fetch(fetch::Args),
    /// List the relay queue; `--flush` asks the server to retry every pending recipient now.
    Queue(queue_cli::Args),
    /// Print where mail for a domain would go (routes, relay host, MX, A/AAAA): for tests.
    #[command(hide = true)]
    Route(relay::cli::RouteArgs),
    /// One delivery attempt of a message file to another server, its outcomes as JSON: for
    /// tests.
    #[command(hide = true)]
    Relay(Box<relay::cli::RelayArgs>),
}

/// `NAME:PASSWORD`.
#[derive(Clone, Debug)]
pub struct UserPass {
    /// The name.
    pub name: String,
    /// The password.
    pub password: String,
}

impl std::str::FromStr for UserPass {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let (name, password) = s.split_once(':').ok_or("expected NAME:PASSWORD")?;
        if name.is_empty() {
            return Err("empty user name".into());
        }
        Ok(Self {
            name: name.to_string(),
            password: password.to_string(),
        })
    }
}

/// The host of `HOST:PORT` (`[::1]:25` gives `::1`): the name a server's certificate must carry.
pub fn host_of(server: &str) -> anyhow::Result<String> {
    let (host, port) = server
        .rsplit_once(':')
        .ok_or_else(|| anyhow::anyhow!("expected HOST:PORT, got {server}"))?;
    if host.is_empty() || port.parse::<u16>().is_err() {
        anyhow::bail!("expected HOST:PORT, got {server}");
    }
    Ok(host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string())
}

/// A path argument.
pub type Path = PathBuf;

/// The program: parses the command line and runs the command.
pub fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        // Colours only on a terminal: a log file stays plain for log watchers (fail2ban).
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("post-office: {error}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Serve(args) => serve::run(*args).await.map(|()| ExitCode::SUCCESS),
            Command::Send(args) => send::run(args).await,
            Command::Fetch(args) => fetch::run(args).await,
            Command::Route(args) => relay::cli::route(args).await,
            Command::Relay(args) => relay::cli::relay(*args).await,
            Command::Queue(args) => queue_cli::run(&args),
        }
    });
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("post-office: {error:#}");
            ExitCode::FAILURE
        }
    }
}
