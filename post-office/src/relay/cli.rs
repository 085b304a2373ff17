//! Two hidden commands that run the outbound side alone, for tests and for looking at a
//! route: `post-office route DOMAIN` prints where mail for DOMAIN would go now, and
//! `post-office relay` makes one delivery attempt of a message file and prints each
//! recipient's outcome as a line of JSON.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use mail_io::smtp::{ForwardPath, MailParameters, RcptParameters, ReversePath};

use super::{Outbound, OutboundArgs, Route};
use crate::envelope::{QueuedEnvelope, QueuedRecipient, RecipientState, now};

/// `route`'s options.
#[derive(clap::Args)]
pub struct RouteArgs {
    /// The recipient domain (or address literal, `[192.0.2.1]`).
    domain: String,
    /// Our name (an MX list naming it is cut there).
    #[arg(long, default_value = "localhost")]
    hostname: String,
    #[command(flatten)]
    outbound: OutboundArgs,
}

/// Prints the route of a domain: one `hop NAME ADDRESS` line per address to try, in order,
/// or one `failed STATUS EXPLANATION` / `deferred STATUS EXPLANATION` line.
pub async fn route(args: RouteArgs) -> anyhow::Result<ExitCode> {
    let outbound = Outbound::new(args.outbound.config(&args.hostname))?;
    match outbound.route(&args.domain).await {
        Route::Hops(hops) => {
            for hop in hops {
                println!("hop {} {}", hop.name, hop.address);
            }
        }
        Route::Failed(no) => println!("failed {} {}", no.status, no.explanation),
        Route::Deferred(no) => println!("deferred {} {}", no.status, no.explanation),
    }
    Ok(ExitCode::SUCCESS)
}

/// `relay`'s options.
#[derive(clap::Args)]
pub struct RelayArgs {
    /// The message file, as it would be queued.
    #[arg(long)]
    message: PathBuf,
    /// MAIL FROM, `<alice@a.example>` (or `<>`).
    #[arg(long)]
    from: String,
    /// MAIL FROM's parameters, `BODY=8BITMIME REQUIRETLS ENVID=x`.
    #[arg(long, default_value = "")]
    mail_parameters: String,
    /// A recipient, `<bob@b.example>`, optionally followed by its parameters
    /// (`<bob@b.example> NOTIFY=SUCCESS`); repeatable, all of one domain.
    #[arg(long = "to", required = true)]
    recipients: Vec<String>,
    /// The domain to route (by default the first recipient's).
    #[arg(long)]
    domain: Option<String>,
    /// Our name in EHLO.
    #[arg(long, default_value = "localhost")]
    hostname: String,
    #[command(flatten)]
    outbound: OutboundArgs,
}

/// One attempt; prints one JSON [`Outcome`](crate::envelope::Outcome) a line, in recipient
/// order.
pub async fn relay(args: RelayArgs) -> anyhow::Result<ExitCode> {
    let from: ReversePath<'static> = args
        .from
        .parse()
        .map_err(|error| anyhow::anyhow!("--from: {error}"))?;
    let parameters: MailParameters<'static> = args
        .mail_parameters
        .parse()
        .map_err(|error| anyhow::anyhow!("--mail-parameters: {error}"))?;
    let mut recipients = Vec::new();
    for text in &args.recipients {
        let (path, rest) = text.split_once(' ').unwrap_or((text.as_str(), ""));
        let to: ForwardPath<'static> = path
            .parse()
            .map_err(|error| anyhow::anyhow!("--to {text}: {error}"))?;
        let parameters: RcptParameters<'static> = rest
            .parse()
            .map_err(|error| anyhow::anyhow!("--to {text}: {error}"))?;
        recipients.push(QueuedRecipient {
            to,
            parameters,
            state: RecipientState::Pending {
                attempts: 0,
                next_attempt: 0,
                last: None,
            },
        });
    }
    let domain = match args.domain {
        Some(domain) => domain,
        None => recipients
            .first()
            .and_then(|recipient| recipient.to.mailbox())
            .map(|mailbox| mailbox.host().to_string())
            .context("no recipient domain")?,
    };
    let envelope = QueuedEnvelope {
        id: "relay-test".into(),
        from,
        parameters,
        recipients,
        arrival: now(),
        received_from: "[127.0.0.1] (command line)".into(),
    };
    let outbound = Outbound::new(args.outbound.config(&args.hostname))?;
    let indices: Vec<usize> = (0..envelope.recipients.len()).collect();
    for outcome in outbound
        .deliver(&domain, &envelope, &indices, &args.message)
        .await
    {
        println!("{}", serde_json::to_string(&outcome)?);
    }
    outbound.close().await;
    Ok(ExitCode::SUCCESS)
}
