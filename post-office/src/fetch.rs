//! `post-office fetch`: every message of a POP3 maildrop into a local Maildir, byte for byte.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, anyhow, bail};
use mail_wire::sasl::{ClientMechanism, LoginClient, PlainClient};
use pop3_proto::client::{Client, ClientConfig, Credentials, Event, Output, Request, TlsPolicy};
use pop3_proto::types::{MessageNumber, Username};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use crate::UserPass;
use crate::conn::{Conn, Input};
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
    /// Trust this CA certificate (PEM) instead of the Web PKI roots.
    #[arg(long, conflicts_with = "insecure")]
    ca: Option<PathBuf>,
    /// Accept any certificate (tests against self-signed servers only).
    #[arg(long)]
    insecure: bool,
}

/// Fetches; prints how many messages were stored.
pub async fn run(args: Args) -> Result<ExitCode> {
    let maildir = Maildir::open(&args.out).with_context(|| format!("{}", args.out.display()))?;
    let (host, addr) = crate::resolve(&args.server)?;
    let tls_wanted = args.tls || args.stls;
    let connector = if tls_wanted {
        Some(crate::tls::connector(args.ca.as_deref(), args.insecure)?)
    } else {
        None
    };
    let mut conn = Conn::Plain(
        TcpStream::connect(addr)
            .await
            .with_context(|| format!("connecting to {addr}"))?,
    );
    if args.tls {
        let connector = connector.as_ref().ok_or_else(|| anyhow!("no TLS"))?;
        conn.connect_tls(connector, crate::tls::server_name(&host)?)
            .await?;
    }
    let name = Username::new(args.user.name.clone())
        .map_err(|e| anyhow!("--user: {e}"))?
        .into_owned();
    let credentials = if args.apop {
        Credentials::Apop {
            name,
            secret: args.user.password.clone().into(),
        }
    } else if let Some(mechanism) = &args.auth {
        let mechanism: Box<dyn ClientMechanism + Send> =
            match mechanism.to_ascii_uppercase().as_str() {
                "PLAIN" => Box::new(PlainClient::new(
                    None,
                    &args.user.name,
                    args.user.password.clone(),
                )?),
                "LOGIN" => Box::new(LoginClient::new(
                    &args.user.name,
                    args.user.password.clone(),
                )),
                other => bail!("--auth {other}: PLAIN or LOGIN"),
            };
        Credentials::Sasl(vec![mechanism])
    } else {
        Credentials::User {
            name,
            password: args.user.password.clone().into(),
        }
    };
    let config = ClientConfig {
        tls: if args.stls {
            TlsPolicy::Required
        } else {
            TlsPolicy::Never
        },
        implicit_tls: args.tls,
        allow_plaintext_auth: !tls_wanted,
        ..ClientConfig::default()
    };
    let mut client = Client::new(config, credentials);
    let progress = std::io::stderr().is_terminal();
    let mut bar: Option<indicatif::ProgressBar> = None;
    // The message being stored, written as it streams: memory stays bounded.
    let mut current: Option<crate::maildir::Incoming> = None;
    let mut stored = 0usize;
    let mut count = 0u64;
    // RETRs not yet answered.
    let mut outstanding = 0u64;
    let mut failed = false;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        while let Some(output) = client.poll_output() {
            match output {
                Output::Transmit(bytes) => conn.send(&bytes).await?,
                Output::StartTls => {
                    let connector = connector.as_ref().ok_or_else(|| anyhow!("no TLS"))?;
                    conn.connect_tls(connector, crate::tls::server_name(&host)?)
                        .await?;
                    client.tls_established()?;
                }
                Output::Close => {
                    conn.shutdown().await.ok();
                    if let Some(bar) = &bar {
                        bar.finish();
                    }
                    println!(
                        "{stored} of {count} messages stored in {}",
                        args.out.display()
                    );
                    return Ok(if failed || stored as u64 != count {
                        ExitCode::FAILURE
                    } else {
                        ExitCode::SUCCESS
                    });
                }
                Output::Event(Event::Ready) => client.request(Request::Stat)?,
                Output::Event(Event::Stat { count: n, .. }) => {
                    count = n;
                    if progress {
                        bar = Some(indicatif::ProgressBar::new(n));
                    }
                    // RETR for every message (one batch with PIPELINING); DELE for each only
                    // once it is stored, QUIT (which commits the deletions) after the last.
                    for i in 1..=u32::try_from(n).unwrap_or(u32::MAX) {
                        let Some(number) = MessageNumber::new(i) else {
                            continue;
                        };
                        client.request(Request::Retr(number))?;
                    }
                    outstanding = n;
                    if outstanding == 0 {
                        client.request(Request::Quit)?;
                    }
                }
                Output::Event(Event::Message { .. }) => {
                    current = Some(tokio::task::block_in_place(|| maildir.begin("fetch"))?);
                }
                Output::Event(Event::Body(chunk)) => {
                    if let Some(incoming) = &mut current {
                        tokio::task::block_in_place(|| incoming.write(&chunk))?;
                    }
                }
                Output::Event(Event::MessageEnd(number)) => {
                    // A message that cannot be stored ends the run here, without QUIT: the
                    // server then deletes nothing.
                    if let Some(incoming) = current.take() {
                        tokio::task::block_in_place(|| incoming.finish())?;
                    }
                    stored += 1;
                    if args.delete {
                        client.request(Request::Dele(number))?;
                    }
                    outstanding = outstanding.saturating_sub(1);
                    if outstanding == 0 {
                        client.request(Request::Quit)?;
                    }
                    if let Some(bar) = &bar {
                        bar.inc(1);
                    }
                }
                Output::Event(Event::Refused(request, response)) => {
                    eprintln!("post-office: {request:?} refused: {}", response.text);
                    failed = true;
                    if matches!(request, Request::Retr(_)) {
                        outstanding = outstanding.saturating_sub(1);
                        if outstanding == 0 {
                            client.request(Request::Quit)?;
                        }
                    }
                }
                Output::Event(Event::Closed {
                    committed: false, ..
                }) if args.delete => {
                    eprintln!("post-office: the server did not remove the messages");
                    failed = true;
                }
                Output::Event(Event::Error(error)) => {
                    eprintln!("post-office: {error}");
                    failed = true;
                }
                Output::Event(_) => {}
            }
        }
        // Without a stated timeout (nothing owed), ten minutes.
        let timeout = client
            .timeout()
            .or(Some(std::time::Duration::from_secs(600)));
        match conn.read_for(&mut buf, timeout).await {
            Input::Timeout => client.handle_timeout(),
            Input::Eof => client.receive_eof(),
            Input::Data(n) => {
                // Clients take every byte (they read every reply at once).
                let _ = client.receive(buf.get(..n).unwrap_or_default());
            }
        }
    }
}
