//! `post-office queue`: what the relay queue holds, read without disturbing a running server,
//! and `--flush`, which asks it to retry every pending recipient now.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};

use crate::dsn::date;
use crate::envelope::{OutcomeKind, QueuedEnvelope, RecipientState};
use crate::queue;

/// `queue`'s options.
#[derive(clap::Args)]
pub struct Args {
    /// The server's data directory (its queue is `DATA/.queue`).
    #[arg(long, default_value = "post-office-data")]
    data: PathBuf,
    /// Ask the server to retry every pending recipient now: it looks for the request every
    /// second; with no server running, the next to start acts on it.
    #[arg(long)]
    flush: bool,
}

/// Lists the queue (after asking for a flush, with `--flush`).
pub fn run(args: &Args) -> Result<ExitCode> {
    if args.flush {
        queue::request_flush(&args.data)
            .with_context(|| format!("asking {} for a flush", args.data.display()))?;
        println!("flush requested: every pending recipient is tried again within a second");
    }
    print!("{}", listing(&args.data)?);
    Ok(ExitCode::SUCCESS)
}

/// The listing: for each message its id, sender, arrival and size, then a line per recipient
/// with its state, attempts, next attempt and last diagnostic; a count at the end.
pub fn listing(data: &Path) -> Result<String> {
    let (envelopes, unreadable) =
        queue::list(data).with_context(|| format!("reading the queue of {}", data.display()))?;
    let mut out = String::new();
    let mut pending = 0;
    for envelope in &envelopes {
        pending += write_message(&mut out, data, envelope);
    }
    for name in &unreadable {
        let _ = writeln!(
            out,
            "{name}: unreadable (moved to corrupt/ at the next start)"
        );
    }
    let _ = writeln!(
        out,
        "{} message{} queued, {pending} recipient{} pending",
        envelopes.len(),
        if envelopes.len() == 1 { "" } else { "s" },
        if pending == 1 { "" } else { "s" },
    );
    Ok(out)
}

/// One message; returns its pending recipients.
fn write_message(out: &mut String, data: &Path, envelope: &QueuedEnvelope) -> usize {
    // The id names a file only once checked (as the queue itself does at start-up).
    let size = crate::queue::check_id(&envelope.id)
        .and_then(|()| std::fs::metadata(data.join(".queue").join("msg").join(&envelope.id)))
        .map(|meta| meta.len().to_string())
        .unwrap_or_else(|_| "?".into());
    let _ = writeln!(
        out,
        "{}  from {}  arrived {}  size {size}",
        envelope.id,
        envelope.from,
        date(envelope.arrival)
    );
    let mut pending = 0;
    for recipient in &envelope.recipients {
        let _ = write!(out, "  {}  ", recipient.to);
        match &recipient.state {
            RecipientState::Pending {
                attempts,
                next_attempt,
                last,
            } => {
                pending += 1;
                let _ = write!(
                    out,
                    "pending  attempts {attempts}  next {}",
                    date(*next_attempt)
                );
                if let Some(last) = last {
                    let _ = write!(out, "  last {}", last.status);
                    if let Some(diagnostic) = &last.diagnostic {
                        let _ = write!(out, " {diagnostic}");
                    }
                }
            }
            RecipientState::Done { outcome, reported } => {
                let what = match outcome.kind {
                    OutcomeKind::Delivered { .. } => "delivered",
                    OutcomeKind::Failed | OutcomeKind::Deferred => "failed",
                };
                let _ = write!(out, "{what} {}", outcome.status);
                if let Some(diagnostic) = &outcome.diagnostic {
                    let _ = write!(out, " {diagnostic}");
                }
                if !reported {
                    let _ = write!(out, "  (report pending)");
                }
            }
        }
        out.push('\n');
    }
    pending
}
