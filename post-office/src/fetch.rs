//! `post-office fetch`: every message of a POP3 maildrop into a local Maildir, byte for byte,
//! with mail-io's client: the RETRs pipelined when the server offers PIPELINING, each DELE sent
//! once its message is stored durably.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use mail_io::pop3::{Client, ClientError, ClientMechanism, MessageNumber, MessageReader};
use mail_wire::sasl::{LoginClient, PlainClient};

use crate::UserPass;
use crate::maildir::Maildir;

/// `fetch`'s options.
#[derive(clap::Args)]
pub struct Args {
    /// The server, `HOST:PORT`.
    #[arg(long)]
    server: String,
    /// The login, `NAME:PASSWORD`.
    #[arg(long)]
    user: UserPass,
    /// Require STLS.
    #[arg(long, conflicts_with = "tls")]
    stls: bool,
    /// TLS from the start (port 995).
    #[arg(long)]
    tls: bool,
    /// Log in with APOP.
    #[arg(long, conflicts_with = "auth")]
    apop: bool,
    /// Log in with AUTH and this mechanism (PLAIN or LOGIN).
    #[arg(long)]
    auth: Option<String>,
    /// Delete the messages on the server once stored.
    #[arg(long)]
    delete: bool,
    /// The Maildir to store into (created if missing).
    #[arg(long)]
    out: PathBuf,
    /// Trust the certificates in this PEM file instead of the Web PKI roots: a CA that signed
    /// the server's certificate, or the server's own self-signed certificate.
    #[arg(long, conflicts_with = "insecure")]
    ca: Option<PathBuf>,
    /// Accept any certificate (tests against self-signed servers only).
    #[arg(long)]
    insecure: bool,
}

/// Fetches; prints how many messages were stored.
pub async fn run(args: Args) -> Result<ExitCode> {
    let maildir = Maildir::open(&args.out).with_context(|| format!("{}", args.out.display()))?;
    let mut client = Client::connect(args.server.clone());
    if args.tls || args.stls {
        let tls = crate::tls::client(
            &crate::host_of(&args.server)?,
            args.ca.as_deref(),
            args.insecure,
        )?;
        client = if args.tls {
            client.implicit_tls(tls)
        } else {
            client.stls(tls)
        };
    } else {
        client = client.plaintext().allow_plaintext_auth();
    }
    let (name, password) = (&args.user.name, &args.user.password);
    client = if args.apop {
        client.apop(name, password)
    } else if let Some(mechanism) = &args.auth {
        let mechanism: Box<dyn ClientMechanism + Send> =
            match mechanism.to_ascii_uppercase().as_str() {
                "PLAIN" => Box::new(PlainClient::new(None, name, password.clone())?),
                "LOGIN" => Box::new(LoginClient::new(name, password.clone())),
                other => bail!("--auth {other}: PLAIN or LOGIN"),
            };
        client.sasl(mechanism)
    } else {
        client.user_pass(name, password)
    };
    let mut client = client.await.with_context(|| args.server.clone())?;
    let (count, _) = client.stat().await?;
    let bar = std::io::stderr()
        .is_terminal()
        .then(|| indicatif::ProgressBar::new(count));
    let mut stored = 0u64;
    let mut failed = false;
    // RETRs pipelined (a window of them in flight when the server offers PIPELINING), each
    // message streamed into the Maildir as it arrives; its DELE is asked for only once it is
    // stored durably, and goes out with the next requests.
    let numbers = (1..=u32::try_from(count).unwrap_or(u32::MAX)).filter_map(MessageNumber::new);
    let mut fetch = client.fetch(numbers);
    loop {
        let mut reader = match fetch.next().await {
            Ok(Some(reader)) => reader,
            Ok(None) => break,
            // This message, or a DELE, was refused; the others go on.
            Err(error) if error.is_refused() => {
                eprintln!("post-office: {error}");
                failed = true;
                continue;
            }
            // The session failed: what was stored stays stored, nothing is deleted (no QUIT).
            Err(error) => {
                eprintln!("post-office: {error}");
                return Ok(summary(stored, count, &args, false));
            }
        };
        let number = reader.message();
        match store(&mut reader, &maildir).await {
            Ok(()) => {}
            Err(Failure::Session(error)) => {
                eprintln!("post-office: {error}");
                return Ok(summary(stored, count, &args, false));
            }
            // A message that cannot be stored ends the run here, without QUIT: the server
            // then deletes nothing.
            Err(Failure::Store(error)) => return Err(error),
        }
        stored += 1;
        if args.delete {
            // Only what is stored is deleted.
            fetch.delete(number);
        }
        if let Some(bar) = &bar {
            bar.inc(1);
        }
    }
    drop(fetch);
    if let Some(bar) = &bar {
        bar.finish();
    }
    match client.quit().await {
        Ok(committed) => {
            if !committed && args.delete {
                eprintln!("post-office: the server did not remove the messages");
                failed = true;
            }
        }
        Err(error) => {
            eprintln!("post-office: {error}");
            failed = true;
        }
    }
    Ok(summary(stored, count, &args, !failed))
}

/// Prints how many messages were stored; success only if all were and nothing failed.
fn summary(stored: u64, count: u64, args: &Args, ok: bool) -> ExitCode {
    println!(
        "{stored} of {count} messages stored in {}",
        args.out.display()
    );
    if ok && stored == count {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Why one message was not stored.
enum Failure {
    /// The session failed mid-message.
    Session(ClientError),
    /// The local Maildir did not take it.
    Store(anyhow::Error),
}

impl From<ClientError> for Failure {
    fn from(error: ClientError) -> Self {
        Self::Session(error)
    }
}

impl From<std::io::Error> for Failure {
    fn from(error: std::io::Error) -> Self {
        Self::Store(anyhow::Error::new(error).context("storing a message"))
    }
}

/// The message streamed into the Maildir as it arrives (memory stays bounded), made durable
/// (`tmp/`, fdatasync, `new/`, its sync) before this returns.
async fn store(reader: &mut MessageReader<'_>, maildir: &Maildir) -> Result<(), Failure> {
    let mut incoming = maildir.begin("fetch");
    while let Some(chunk) = reader.next_chunk().await? {
        // Buffered: the thread is handed over only when the piece reaches the disk.
        if incoming.writes_through(chunk.len()) {
            tokio::task::block_in_place(|| incoming.write(&chunk))?;
        } else {
            incoming.write(&chunk)?;
        }
    }
    tokio::task::block_in_place(|| incoming.finish())?;
    Ok(())
}
