//! `post-office send`: one message over SMTP or LMTP with mail-io's client, the result per
//! recipient.

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, anyhow};
use mail_io::smtp::{Client, Domain, Envelope, Host, Mailbox, Report, ReversePath};
use smtp_proto::client::body_type;

use crate::UserPass;

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
    /// Trust the certificates in this PEM file instead of the Web PKI roots: a CA that signed
    /// the server's certificate, or the server's own self-signed certificate.
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
        ReversePath::Null
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
    let helo = Domain::new(args.helo.clone())
        .map_err(|e| anyhow!("--helo: {e}"))?
        .into_owned();
    let mut client = Client::connect(args.server.clone()).hello(Host::Domain(helo));
    if args.tls || args.starttls {
        let tls = crate::tls::client(
            &crate::host_of(&args.server)?,
            args.ca.as_deref(),
            args.insecure,
        )?;
        client = if args.tls {
            client.implicit_tls(tls)
        } else {
            client.starttls(tls)
        };
    } else {
        // Without TLS the user chose plaintext: AUTH then goes in plaintext too.
        client = client.plaintext().allow_plaintext_auth();
    }
    if let Some(user) = &args.auth {
        client = client.credentials(&user.name, &user.password);
    }
    if args.lmtp {
        client = client.lmtp();
    }
    let mut client = client
        .await
        .with_context(|| format!("{}: the message was not sent", args.server))?;
    let report = client
        .send(envelope, &message[..])
        .await
        .context("the message was not sent")?;
    if let Err(error) = client.quit().await {
        eprintln!("post-office: QUIT: {error}");
    }
    finish(&report)
}

fn finish(report: &Report) -> Result<ExitCode> {
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
