//! `post-office send`: one message over SMTP or LMTP, the result per recipient.

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, anyhow, bail};
use bytes::Buf;
use mail_wire::sasl::{ClientMechanism, LoginClient, PlainClient};
use smtp_proto::client::{Client, ClientConfig, Envelope, Event, Output, TlsPolicy, body_type};
use smtp_proto::types::{Domain, Host, Mailbox};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use crate::UserPass;
use crate::conn::{Conn, Input};

/// `send`'s options.
#[derive(clap::Args)]
pub struct Args {
    /// The server, `HOST:PORT`.
    #[arg(long)]
    server: String,
    /// The sender (`<>` for none).
    #[arg(long)]
    from: String,
    /// A recipient; repeatable.
    #[arg(long = "to", required = true)]
    to: Vec<String>,
    /// Require STARTTLS.
    #[arg(long, conflicts_with = "tls")]
    starttls: bool,
    /// TLS from the start (port 465).
    #[arg(long)]
    tls: bool,
    /// Authenticate (PLAIN or LOGIN, whichever the server prefers), `USER:PASSWORD`.
    #[arg(long)]
    auth: Option<UserPass>,
    /// Speak LMTP.
    #[arg(long)]
    lmtp: bool,
    /// Trust this CA certificate (PEM) instead of the Web PKI roots.
    #[arg(long, conflicts_with = "insecure")]
    ca: Option<PathBuf>,
    /// Accept any certificate (tests against self-signed servers only).
    #[arg(long)]
    insecure: bool,
    /// The name to greet with.
    #[arg(long, default_value = "localhost")]
    helo: String,
    /// The message (standard input when absent).
    file: Option<PathBuf>,
}

/// Sends; the exit status is non-zero unless every recipient accepted the message.
pub async fn run(args: Args) -> Result<ExitCode> {
    let message = match &args.file {
        Some(path) => std::fs::read(path).with_context(|| format!("{}", path.display()))?,
        None => {
            let mut message = Vec::new();
            std::io::stdin().read_to_end(&mut message)?;
            message
        }
    };
    let from = if args.from == "<>" || args.from.is_empty() {
        smtp_proto::types::ReversePath::Null
    } else {
        Mailbox::parse(&args.from)
            .map_err(|e| anyhow!("--from: {e}"))?
            .into_owned()
            .into()
    };
    let mut envelope = Envelope::new(from).for_message(&message);
    for to in &args.to {
        envelope = envelope.to(Mailbox::parse(to)
            .map_err(|e| anyhow!("--to {to}: {e}"))?
            .into_owned());
    }
    if envelope.parameters.body.is_none() && !message.is_ascii() {
        envelope.parameters.body = body_type(&message);
    }
    let (host, addr) = crate::resolve(&args.server)?;
    let tls_wanted = args.tls || args.starttls;
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
    let config = ClientConfig {
        hostname: Host::Domain(
            Domain::new(args.helo.clone())
                .map_err(|e| anyhow!("--helo: {e}"))?
                .into_owned(),
        ),
        lmtp: args.lmtp,
        tls: if args.starttls {
            TlsPolicy::Required
        } else {
            TlsPolicy::Never
        },
        implicit_tls: args.tls,
        // Without TLS the user chose plaintext: AUTH then goes in plaintext too.
        allow_plaintext_auth: !tls_wanted,
        ..ClientConfig::default()
    };
    let mechanisms: Vec<Box<dyn ClientMechanism + Send>> = match &args.auth {
        Some(user) => vec![
            Box::new(PlainClient::new(None, &user.name, user.password.clone())?),
            Box::new(LoginClient::new(&user.name, user.password.clone())),
        ],
        None => Vec::new(),
    };
    let mut client = Client::with_auth(config, mechanisms);
    let mut envelope = Some(envelope);
    let mut report = None;
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
                    return finish(report);
                }
                Output::Event(Event::Ready) => match envelope.take() {
                    Some(envelope) => client.send_message(envelope)?,
                    None => client.quit()?,
                },
                Output::Event(Event::SendBody) => {
                    // Whole message at once: the client makes BDAT or DATA of it.
                    let mut rest = &message[..];
                    while client.wants_body() && rest.has_remaining() {
                        let piece = rest.len().min(64 * 1024);
                        client.send_body(rest.get(..piece).unwrap_or_default())?;
                        rest.advance(piece);
                        while let Some(Output::Transmit(bytes)) = client.poll_output() {
                            conn.send(&bytes).await?;
                        }
                    }
                    if client.wants_body() {
                        client.end_body()?;
                    }
                }
                Output::Event(Event::Sent(sent)) => report = Some(sent),
                Output::Event(Event::Error(error)) => {
                    eprintln!("post-office: {error}");
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

fn finish(report: Option<smtp_proto::client::Report>) -> Result<ExitCode> {
    let Some(report) = report else {
        bail!("the message was not sent");
    };
    for recipient in &report.recipients {
        let reply = recipient
            .result
            .as_ref()
            .map(|r| {
                let status = r.status().map(|s| format!(" {s}")).unwrap_or_default();
                let text: Vec<&str> = r.lines().iter().map(|l| l.as_str()).collect();
                format!("{}{status} {}", r.code().get(), text.join(" "))
            })
            .unwrap_or_else(|| "no answer".to_string());
        let verdict = if recipient.is_delivered() {
            "accepted"
        } else {
            "refused"
        };
        println!("{}: {verdict} ({reply})", recipient.to);
    }
    Ok(if report.is_delivered_to_all() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
