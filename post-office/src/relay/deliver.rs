//! One delivery attempt (RFC 5321 5.1, 6.3): the hops of the route in turn until one takes
//! the transaction, over SMTP with mail-io's client; each recipient's outcome from its reply
//! (2yz delivered, 4yz deferred, 5yz failed), with RFC 3464's `Remote-MTA` and
//! `Diagnostic-Code`.

use std::path::Path;
use std::time::Duration;

use mail_io::smtp::{
    Client, ClientConfig, ClientError, Envelope, Host, MailParameters, Reply, ReversePath,
};
use mail_io::{IoConfig, TlsClient};
use smtp_proto::client::{Error as SessionError, Recipient, RecipientReport, SendError};
use smtp_proto::types::Extension;
use tokio::time::Instant;
use tracing::{debug, info, warn};

use super::Outbound;
use super::cache::{Key, Session};
use super::route::{Hop, NoRoute, Route, normalize};
use crate::envelope::{Outcome, OutcomeKind, QueuedEnvelope, QueuedRecipient, now};

/// Recipients per transaction: RFC 5321 4.5.3.1.8 has every server take at least 100. More
/// go in further transactions on the same connection.
const MAX_RECIPIENTS: usize = 100;

/// How long QUIT may wait for its reply: the mail is through already.
const QUIT_WAIT: Duration = Duration::from_secs(10);

/// What TLS a hop must give.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(super) enum Tls {
    /// STARTTLS when offered, the certificate unchecked; plaintext otherwise.
    Opportunistic,
    /// STARTTLS required, the certificate verified against the hop's name. `requiretls`:
    /// the message asked for it (RFC 8689): failing is permanent, and the hop must also
    /// offer REQUIRETLS; otherwise `--route-tls` asked, and failing is transient.
    Verified { requiretls: bool },
    /// No STARTTLS: the same hop again after an opportunistic handshake failed there (RFC
    /// 7435 3: opportunistic security falls back to cleartext rather than not delivering).
    Plaintext,
}

/// Why a hop did not take the transaction; the next hop is tried.
#[derive(Clone, Debug)]
struct Problem {
    /// Every hop failing this way bounces the message; transient problems defer it.
    permanent: bool,
    status: String,
    /// `dns; mx.example.org`, when a server was reached.
    remote: Option<String>,
    /// `smtp; 550 5.7.1 ...`: the hop's reply, or ours in the same form.
    diagnostic: String,
}

impl Problem {
    fn new(permanent: bool, status: &str, hop: Option<&Hop>, text: &str) -> Self {
        Self {
            permanent,
            status: status.to_string(),
            remote: hop.map(remote_mta),
            diagnostic: our_diagnostic(permanent, status, text),
        }
    }

    /// From the reply that refused the session.
    fn reply(hop: &Hop, reply: &Reply<'_>) -> Self {
        let permanent = reply.is_permanent_negative();
        Self {
            permanent,
            status: status_of(reply, if permanent { "5.0.0" } else { "4.0.0" }),
            remote: Some(remote_mta(hop)),
            diagnostic: diagnostic_of(reply),
        }
    }

    fn outcome(&self) -> Outcome {
        Outcome {
            kind: if self.permanent {
                OutcomeKind::Failed
            } else {
                OutcomeKind::Deferred
            },
            status: self.status.clone(),
            remote_mta: self.remote.clone(),
            diagnostic: Some(self.diagnostic.clone()),
            at: now(),
        }
    }
}

/// RFC 3464 2.3.5: `dns; <host>`.
fn remote_mta(hop: &Hop) -> String {
    format!("dns; {}", hop.name)
}

/// Our own finding in a reply's form, `smtp; 554 5.6.3 text` (RFC 3464 2.3.6), so that every
/// diagnostic reads alike: the reply code from the status's class (RFC 7505 3's 556 for a
/// null MX).
fn our_diagnostic(permanent: bool, status: &str, text: &str) -> String {
    let code = match (permanent, status) {
        (true, "5.1.10") => 556,
        (true, _) => 554,
        (false, _) => 451,
    };
    format!("smtp; {code} {status} {text}")
}

/// The enhanced status of `reply` when it agrees with its code (RFC 3463 2), else `default`.
fn status_of(reply: &Reply<'_>, default: &str) -> String {
    reply
        .status()
        .filter(|status| status.class() == reply.code().first_digit())
        .map_or_else(|| default.to_string(), |status| status.to_string())
}

/// `smtp; 550 5.1.1 the text`, the lines joined by spaces (RFC 3464 2.3.6).
fn diagnostic_of(reply: &Reply<'_>) -> String {
    let mut text = format!("smtp; {}", reply.code());
    if let Some(status) = reply.status() {
        text.push_str(&format!(" {status}"));
    }
    for line in reply.lines() {
        if !line.is_empty() {
            text.push(' ');
            text.push_str(line.as_str());
        }
    }
    text
}

/// One attempt for the recipients at `indices` of `envelope`: see [`Outbound::deliver`].
pub async fn deliver(
    outbound: &Outbound,
    domain: &str,
    envelope: &QueuedEnvelope,
    indices: &[usize],
    message: &Path,
) -> Vec<Outcome> {
    let bound = outbound.config.attempt_timeout;
    let deadline = Instant::now() + bound;
    let recipients: Vec<(usize, &QueuedRecipient)> = indices
        .iter()
        .enumerate()
        .filter_map(|(slot, index)| envelope.recipients.get(*index).map(|r| (slot, r)))
        .collect();
    let mut outcomes: Vec<Option<Outcome>> = vec![None; indices.len()];
    let attempt = attempt(outbound, domain, envelope, &recipients, message, deadline);
    let results = match tokio::time::timeout(bound, attempt).await {
        Ok(results) => results,
        Err(_) => {
            warn!(id = %envelope.id, %domain, "delivery attempt timed out");
            let problem = Problem::new(
                false,
                "4.4.2",
                None,
                &format!(
                    "the delivery attempt took longer than {} s",
                    bound.as_secs()
                ),
            );
            recipients
                .iter()
                .map(|(slot, _)| (*slot, problem.outcome()))
                .collect()
        }
    };
    for (slot, outcome) in results {
        if let Some(place) = outcomes.get_mut(slot) {
            *place = Some(outcome);
        }
    }
    outcomes
        .into_iter()
        .map(|outcome| {
            outcome.unwrap_or_else(|| {
                // An index the envelope does not have: the caller's mistake, kept for later.
                Problem::new(false, "4.3.0", None, "no such recipient in the envelope").outcome()
            })
        })
        .collect()
}

/// The route, then the hops in turn: the first that takes the transaction decides every
/// recipient; when none does, every recipient gets the last problem (a permanent one only
/// when no hop failed for a transient reason: another try may reach a better hop).
async fn attempt(
    outbound: &Outbound,
    domain: &str,
    envelope: &QueuedEnvelope,
    recipients: &[(usize, &QueuedRecipient)],
    message: &Path,
    deadline: Instant,
) -> Vec<(usize, Outcome)> {
    let all = |problem: &Problem| {
        recipients
            .iter()
            .map(|(slot, _)| (*slot, problem.outcome()))
            .collect::<Vec<_>>()
    };
    if needs_a_named_hop(envelope) && !outbound.router.is_configured(domain) {
        // RFC 8689 4.2.1 step 2: an MX must be DNSSEC-validated or MTA-STS-confirmed before
        // a REQUIRETLS message goes there; this server does neither, so it sends such a
        // message only through a hop the operator named.
        let explanation = format!(
            "REQUIRETLS: the MX of {domain} cannot be validated here (no DNSSEC, no MTA-STS; \
             RFC 8689 4.2.1), and no --route or --relayhost names a host for it"
        );
        info!(id = %envelope.id, %domain, "REQUIRETLS without a named hop: failed");
        return all(&Problem::new(true, "5.7.10", None, &explanation));
    }
    let hops = match outbound.router.route(domain).await {
        Route::Hops(hops) => hops,
        Route::Failed(NoRoute {
            status,
            explanation,
        }) => {
            info!(id = %envelope.id, %domain, status, %explanation, "no route: failed");
            return all(&Problem::new(true, status, None, &explanation));
        }
        Route::Deferred(NoRoute {
            status,
            explanation,
        }) => {
            info!(id = %envelope.id, %domain, status, %explanation, "no route: deferred");
            return all(&Problem::new(false, status, None, &explanation));
        }
    };
    let tls = tls_for(
        envelope,
        outbound.config.route_tls.contains(&normalize(domain)),
    );
    let mut transient: Option<Problem> = None;
    let mut permanent: Option<Problem> = None;
    for hop in &hops {
        let mut tried = try_hop(outbound, hop, tls, envelope, recipients, message, deadline).await;
        let handshake_failed = tried
            .as_ref()
            .is_err_and(|problem| problem.status == "4.7.5");
        if let (true, Tls::Opportunistic, Err(problem)) = (handshake_failed, tls, &tried) {
            // STARTTLS was offered but the handshake (or the command) failed: the same hop
            // without it, as an MTA with opportunistic TLS does (Postfix's `may` level).
            warn!(
                id = %envelope.id,
                hop = %hop.name,
                diagnostic = %problem.diagnostic,
                "STARTTLS failed: trying again in plaintext"
            );
            tried = try_hop(
                outbound,
                hop,
                Tls::Plaintext,
                envelope,
                recipients,
                message,
                deadline,
            )
            .await;
        }
        match tried {
            Ok(outcomes) => return outcomes,
            Err(problem) => {
                warn!(
                    id = %envelope.id,
                    %domain,
                    hop = %hop.name,
                    address = %hop.address,
                    status = %problem.status,
                    diagnostic = %problem.diagnostic,
                    "hop did not take the message"
                );
                if problem.permanent {
                    permanent = Some(problem);
                } else {
                    transient = Some(problem);
                }
            }
        }
    }
    let problem = transient.or(permanent).unwrap_or_else(|| {
        Problem::new(
            false,
            "4.4.1",
            None,
            &format!("no host of {domain} answered"),
        )
    });
    all(&problem)
}

/// Whether `envelope` asks REQUIRETLS for itself (a bounce of such a message does not: RFC
/// 8689 5).
fn needs_a_named_hop(envelope: &QueuedEnvelope) -> bool {
    envelope.parameters.require_tls && envelope.from != ReversePath::Null
}

/// The TLS a message needs: verified for REQUIRETLS (RFC 8689 4.2.1) and for a
/// `--route-tls` domain, opportunistic otherwise. A bounce (`<>`) of a REQUIRETLS message is
/// not held to 4.2.1 (it applies to a non-empty return path) and is never dropped for want of
/// REQUIRETLS (section 5): opportunistic, REQUIRETLS asked where offered ([`mail_parameters`]).
fn tls_for(envelope: &QueuedEnvelope, route_tls: bool) -> Tls {
    let requiretls = needs_a_named_hop(envelope);
    if requiretls || route_tls {
        Tls::Verified { requiretls }
    } else {
        Tls::Opportunistic
    }
}

/// MAIL FROM's parameters for `envelope` on this session: as received, with the SIZE of the
/// file as it goes out (RFC 1870 3), without AUTH= (RFC 4954 5: the authenticated identity
/// is not passed on), and, for a bounce, REQUIRETLS only where the session is under TLS and
/// the hop offers it (RFC 8689 5).
fn mail_parameters(
    envelope: &QueuedEnvelope,
    size: Option<u64>,
    secured: bool,
    requiretls_offered: bool,
) -> MailParameters<'static> {
    let mut parameters = envelope.parameters.clone();
    if size.is_some() {
        parameters.size = size;
    }
    parameters.auth = None;
    if envelope.from == ReversePath::Null && !(secured && requiretls_offered) {
        parameters.require_tls = false;
    }
    parameters
}

/// The name a hop's certificate must carry: its host name, or its address.
fn tls_name(hop: &Hop) -> String {
    let name = hop.name.trim_start_matches('[').trim_end_matches(']');
    match name.get(..5) {
        Some(tag) if tag.eq_ignore_ascii_case("IPv6:") => name.get(5..).unwrap_or(name),
        _ => name,
    }
    .to_string()
}

/// One hop: a session kept from an earlier message to it ([`Cache`](super::cache)) that
/// still answers an RSET, else a new one (connect, greet, secure as `tls` says); then the
/// recipients in transactions of [`MAX_RECIPIENTS`]. `Err`: the hop did not take the message
/// (try the next). A kept session that does not answer its RSET with 250 is given up before
/// any of the message is sent (one silent past the probe's wait is closed with QUIT in the
/// background, [`Cache::dismiss`](super::cache::Cache::dismiss)), and a new connection
/// carries on within the attempt: not the hop's failure. Once the RSET is answered, the
/// session is the hop's answer like a new one: a 421 later (to MAIL, or at the end of the
/// data) defers the recipients, to be tried again after the retry delay (RFC 5321 4.5.4.1),
/// never at once over another connection.
async fn try_hop(
    outbound: &Outbound,
    hop: &Hop,
    tls: Tls,
    envelope: &QueuedEnvelope,
    recipients: &[(usize, &QueuedRecipient)],
    message: &Path,
    deadline: Instant,
) -> Result<Vec<(usize, Outcome)>, Problem> {
    let key = Key::new(hop, tls);
    let work = Work {
        outbound,
        hop,
        tls,
        envelope,
        recipients,
        message,
    };
    while let Some(mut session) = outbound.cache.take(&key) {
        let remaining = time_left(deadline)?;
        // The attempt's bound, counted from now, not from the session's first attempt.
        session.client.restart_session_timeout(Some(remaining));
        let probe = outbound.cache.probe_wait().min(remaining);
        match tokio::time::timeout(probe, session.client.reset()).await {
            Ok(Ok(())) => return work.transactions(session, true).await,
            Ok(Err(error)) => {
                debug!(hop = %hop.name, %error, "a cached session is gone: dropped");
            }
            Err(_) => {
                // The hop is slow to answer: no other cached session is tried. This one is
                // closed politely meanwhile (QUIT behind its RSET, RFC 5321 4.1.1.10).
                debug!(hop = %hop.name, "a cached session did not answer RSET: closing it");
                outbound.cache.dismiss(session);
                break;
            }
        }
    }
    let session = connect(outbound, hop, tls, time_left(deadline)?).await?;
    work.transactions(session, false).await
}

/// What is left of the attempt's time, or the problem when nothing is.
fn time_left(deadline: Instant) -> Result<Duration, Problem> {
    let remaining = deadline.saturating_duration_since(Instant::now());
    if remaining.is_zero() {
        return Err(Problem::new(
            false,
            "4.4.2",
            None,
            "no time left for this attempt",
        ));
    }
    Ok(remaining)
}

/// A new session with `hop`: connected, greeted, secured as `tls` says, bound by
/// `remaining` in all.
async fn connect(
    outbound: &Outbound,
    hop: &Hop,
    tls: Tls,
    remaining: Duration,
) -> Result<Session, Problem> {
    let config = &outbound.config;
    let io = IoConfig::new()
        .connect_timeout(config.connect_timeout.min(remaining))
        .handshake_timeout(config.connect_timeout.min(remaining))
        .session_timeout(Some(remaining));
    let hostname =
        Host::new(config.hostname.clone()).unwrap_or_else(|_| ClientConfig::default().hostname);
    let client_config = relay_client_config(hostname);
    let builder = Client::connect(hop.address.to_string())
        .config(client_config)
        .io(io);
    let name = tls_name(hop);
    let builder = match tls {
        Tls::Plaintext => builder.plaintext(),
        Tls::Opportunistic => match TlsClient::dangerous_accept_any(&name) {
            Ok(client) => builder.opportunistic_tls(client),
            Err(_) => builder.plaintext(),
        },
        Tls::Verified { requiretls } => {
            let client = match &outbound.ca {
                Some(certificates) => TlsClient::trusting(&name, certificates.clone()),
                None => TlsClient::webpki(&name),
            };
            match client {
                Ok(client) => builder.starttls(client),
                Err(error) => {
                    return Err(tls_problem(requiretls, hop, &error.to_string()));
                }
            }
        }
    };
    match builder.await {
        Ok(client) => Ok(Session::new(client)),
        Err(error) => Err(connect_problem(hop, tls, error)),
    }
}

/// The message and recipients of one attempt at one hop.
struct Work<'a> {
    outbound: &'a Outbound,
    hop: &'a Hop,
    tls: Tls,
    envelope: &'a QueuedEnvelope,
    recipients: &'a [(usize, &'a QueuedRecipient)],
    message: &'a Path,
}

impl Work<'_> {
    /// The recipients over `session` (`reused`: from the cache), in transactions of
    /// [`MAX_RECIPIENTS`]; then the session is cached when every transaction completed
    /// cleanly (MAIL taken, the client ready), closed with QUIT otherwise, or dropped when
    /// it broke.
    async fn transactions(
        &self,
        mut session: Session,
        reused: bool,
    ) -> Result<Vec<(usize, Outcome)>, Problem> {
        let Self {
            outbound,
            hop,
            tls,
            envelope,
            recipients,
            message,
        } = *self;
        // Read before any await: the client is `Send` but not `Sync`, so no borrow of it may
        // be held across one (the queue's workers run on any thread).
        let (requiretls_offered, dsn) = {
            let offers = |extension| {
                session
                    .client
                    .capabilities()
                    .is_some_and(|caps| caps.supports(extension))
            };
            (offers(Extension::RequireTls), offers(Extension::Dsn))
        };
        if tls == (Tls::Verified { requiretls: true }) && !requiretls_offered {
            outbound.cache.quit(session.client, QUIT_WAIT).await;
            return Err(Problem::new(
                true,
                "5.7.30",
                Some(hop),
                &format!("{} does not offer REQUIRETLS (RFC 8689 4.2.1)", hop.name),
            ));
        }
        let secured = session.client.is_tls();
        let mut results = Vec::new();
        // Once the session broke, the rest waits for the next attempt.
        let mut broken: Option<Problem> = None;
        // Every transaction completed with its MAIL taken: the session may be kept.
        let mut clean = true;
        for batch in recipients.chunks(MAX_RECIPIENTS) {
            if let Some(problem) = &broken {
                results.extend(batch.iter().map(|(slot, _)| (*slot, problem.outcome())));
                continue;
            }
            let file = match tokio::fs::File::open(message).await {
                Ok(file) => file,
                Err(error) => {
                    let text = format!("reading the queued message: {error}");
                    let problem = Problem::new(false, "4.3.0", None, &text);
                    results.extend(batch.iter().map(|(slot, _)| (*slot, problem.outcome())));
                    broken = Some(problem);
                    continue;
                }
            };
            let size = file.metadata().await.ok().map(|metadata| metadata.len());
            let parameters = mail_parameters(envelope, size, secured, requiretls_offered);
            let transaction = Envelope {
                from: envelope.from.clone(),
                parameters,
                recipients: batch
                    .iter()
                    .map(|(_, recipient)| Recipient {
                        to: recipient.to.clone(),
                        parameters: recipient.parameters.clone(),
                    })
                    .collect(),
            };
            session.transactions = session.transactions.saturating_add(1);
            match session.client.send(transaction, file).await {
                Ok(report) => {
                    clean &= report.mail.as_ref().is_some_and(Reply::is_positive);
                    let mut replies = report.recipients.iter();
                    for (slot, _) in batch {
                        let outcome = match replies.next() {
                            Some(reply) => recipient_outcome(reply, dsn, hop),
                            None => Problem::new(false, "4.4.2", Some(hop), "no reply").outcome(),
                        };
                        results.push((*slot, outcome));
                    }
                }
                Err(ClientError::Send(error)) => {
                    let problem = send_problem(hop, &error);
                    if results.is_empty() {
                        outbound.cache.quit(session.client, QUIT_WAIT).await;
                        return Err(problem);
                    }
                    clean = false;
                    results.extend(batch.iter().map(|(slot, _)| (*slot, problem.outcome())));
                }
                Err(error) => {
                    let problem = session_problem(hop, &error);
                    results.extend(batch.iter().map(|(slot, _)| (*slot, problem.outcome())));
                    broken = Some(problem);
                }
            }
        }
        info!(
            id = %envelope.id,
            hop = %hop.name,
            address = %hop.address,
            tls = secured,
            verified = matches!(tls, Tls::Verified { .. }),
            reused,
            recipients = results.len(),
            delivered = results
                .iter()
                .filter(|(_, o)| matches!(o.kind, OutcomeKind::Delivered { .. }))
                .count(),
            "relay attempt"
        );
        if broken.is_none() {
            if clean && session.client.is_ready() {
                outbound.cache.put(Key::new(hop, tls), session);
            } else {
                outbound.cache.quit(session.client, QUIT_WAIT).await;
            }
        }
        Ok(results)
    }
}

/// The client's settings for a hop: PIPELINING (RFC 2920) and CHUNKING (RFC 3030) whenever
/// the hop offers them; STARTTLS is set per hop by the builder.
fn relay_client_config(hostname: Host<'static>) -> ClientConfig {
    ClientConfig {
        hostname,
        pipelining: true,
        chunking: true,
        ..ClientConfig::default()
    }
}

/// A recipient's outcome from its reply (RFC 5321 4.2.1: 2yz taken, 4yz transient, 5yz
/// permanent); no reply at all (the connection ended) is transient.
fn recipient_outcome(report: &RecipientReport, dsn: bool, hop: &Hop) -> Outcome {
    let Some(reply) = &report.result else {
        return Problem::new(
            false,
            "4.4.2",
            Some(hop),
            "the connection ended before the server answered",
        )
        .outcome();
    };
    let (kind, default) = if reply.is_positive() {
        (OutcomeKind::Delivered { dsn_passed_on: dsn }, "2.0.0")
    } else if reply.is_permanent_negative() {
        (OutcomeKind::Failed, "5.0.0")
    } else {
        (OutcomeKind::Deferred, "4.0.0")
    };
    Outcome {
        kind,
        status: status_of(reply, default),
        remote_mta: Some(remote_mta(hop)),
        diagnostic: Some(diagnostic_of(reply)),
        at: now(),
    }
}

/// TLS that had to be verified and was not: RFC 8689 4.2.1's 5.7.10 for REQUIRETLS; for
/// `--route-tls`, the message waits (4.7.5, as Postfix's `secure` level).
fn tls_problem(requiretls: bool, hop: &Hop, why: &str) -> Problem {
    let text = format!("no verified TLS with {}: {why}", hop.name);
    if requiretls {
        Problem::new(true, "5.7.10", Some(hop), &text)
    } else {
        Problem::new(false, "4.7.5", Some(hop), &text)
    }
}

/// Why a connection did not reach the point of sending.
fn connect_problem(hop: &Hop, tls: Tls, error: ClientError) -> Problem {
    let requiretls = tls == (Tls::Verified { requiretls: true });
    match &error {
        ClientError::Io(mail_io::Error::Connect(_) | mail_io::Error::ConnectTimeout(_)) => {
            // Nobody answered: RFC 3463 X.4.1.
            let text = format!("connecting to {} ({}): {error}", hop.name, hop.address);
            Problem::new(false, "4.4.1", None, &text)
        }
        ClientError::Io(mail_io::Error::Tls(_) | mail_io::Error::HandshakeTimeout(_)) => {
            match tls {
                Tls::Opportunistic | Tls::Plaintext => Problem::new(
                    false,
                    "4.7.5",
                    Some(hop),
                    &format!("STARTTLS with {} failed: {error}", hop.name),
                ),
                Tls::Verified { .. } => tls_problem(requiretls, hop, &error.to_string()),
            }
        }
        ClientError::Session(SessionError::TlsUnavailable | SessionError::TlsRefused(_)) => {
            tls_problem(requiretls, hop, &error.to_string())
        }
        ClientError::Session(
            SessionError::Refused(reply) | SessionError::ServiceClosing(reply),
        ) => Problem::reply(hop, reply),
        _ => Problem::new(
            false,
            "4.4.2",
            Some(hop),
            &format!("session with {} failed: {error}", hop.name),
        ),
    }
}

/// A session that broke during a transaction: the recipients wait for the next attempt (the
/// message may have been delivered if the end of data went out: RFC 5321 6.1 accepts the
/// duplicate rather than the loss).
fn session_problem(hop: &Hop, error: &ClientError) -> Problem {
    match error {
        ClientError::Session(SessionError::ServiceClosing(reply)) => Problem::reply(hop, reply),
        ClientError::Session(SessionError::BodyRefused(fault)) => Problem::new(
            true,
            "5.6.0",
            Some(hop),
            &format!("the message cannot be sent as declared: {fault}"),
        ),
        ClientError::Body(error) => Problem::new(
            false,
            "4.3.0",
            None,
            &format!("reading the queued message: {error}"),
        ),
        _ => Problem::new(
            false,
            "4.4.2",
            Some(hop),
            &format!("session with {} failed: {error}", hop.name),
        ),
    }
}

/// A message this hop cannot take as it is: nothing was sent. No downgrade is attempted
/// (8-bit to 7-bit, UTF-8 addresses to ASCII).
fn send_problem(hop: &Hop, error: &SendError) -> Problem {
    let name = &hop.name;
    let (status, text) = match error {
        SendError::Unsupported(Extension::EightBitMime) => (
            "5.6.3",
            format!(
                "{name} does not offer 8BITMIME and the message is 8-bit (BODY=8BITMIME); \
                 it is not converted"
            ),
        ),
        SendError::Unsupported(Extension::BinaryMime | Extension::Chunking) => (
            "5.6.3",
            format!("{name} does not offer BINARYMIME and CHUNKING, which the message needs"),
        ),
        SendError::Unsupported(Extension::SmtpUtf8) => (
            "5.6.7",
            format!(
                "{name} does not offer SMTPUTF8, and the message needs it (UTF-8 addresses \
                 or SMTPUTF8 declared); it is not downgraded"
            ),
        ),
        SendError::Unsupported(Extension::RequireTls) | SendError::RequireTlsWithoutTls => (
            "5.7.30",
            format!("{name} does not offer REQUIRETLS over TLS (RFC 8689 4.2.1)"),
        ),
        SendError::TooLarge { size, limit } => (
            "5.3.4",
            format!("the message of {size} octets is over {name}'s limit of {limit}"),
        ),
        SendError::Api(_) | SendError::NoRecipients => {
            return Problem::new(false, "4.3.0", Some(hop), &error.to_string());
        }
        _ => ("5.5.4", format!("{name} cannot take the message: {error}")),
    };
    Problem::new(true, status, Some(hop), &text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use mail_io::smtp::ReplyCode;

    fn hop() -> Hop {
        Hop {
            name: "mx.b.example".into(),
            address: "192.0.2.1:25".parse().expect("address"),
        }
    }

    fn report(code: u16, text: &str) -> RecipientReport {
        let reply = Reply::new(ReplyCode::new(code).expect("code"), text.to_string())
            .expect("reply")
            .into_owned();
        RecipientReport {
            to: "<bob@b.example>".parse().expect("path"),
            rcpt: Some(reply.clone()),
            result: Some(reply),
        }
    }

    #[test]
    fn replies_map_to_delivered_failed_and_deferred() {
        let ok = recipient_outcome(&report(250, "2.0.0 ok"), true, &hop());
        assert_eq!(
            ok.kind,
            OutcomeKind::Delivered {
                dsn_passed_on: true
            }
        );
        assert_eq!(ok.remote_mta.as_deref(), Some("dns; mx.b.example"));
        let no = recipient_outcome(&report(550, "5.1.1 No such user"), true, &hop());
        assert_eq!(no.kind, OutcomeKind::Failed);
        assert_eq!(no.status, "5.1.1");
        assert_eq!(
            no.diagnostic.as_deref(),
            Some("smtp; 550 5.1.1 No such user")
        );
        let later = recipient_outcome(&report(451, "try later"), false, &hop());
        assert_eq!(later.kind, OutcomeKind::Deferred);
        assert_eq!(later.status, "4.0.0");
        let lost = recipient_outcome(
            &RecipientReport {
                to: "<bob@b.example>".parse().expect("path"),
                rcpt: None,
                result: None,
            },
            true,
            &hop(),
        );
        assert_eq!(lost.kind, OutcomeKind::Deferred);
        assert_eq!(lost.status, "4.4.2");
    }

    #[test]
    fn a_status_of_another_class_than_the_code_is_not_trusted() {
        let odd = recipient_outcome(&report(250, "5.1.1 ok"), false, &hop());
        assert_eq!(odd.status, "2.0.0");
    }

    fn queued(from: &str, parameters: &str) -> QueuedEnvelope {
        QueuedEnvelope {
            id: "m1".into(),
            from: from.parse().expect("a reverse-path"),
            parameters: parameters.parse().expect("parameters"),
            recipients: Vec::new(),
            arrival: 0,
            received_from: String::new(),
        }
    }

    #[test]
    fn a_bounce_of_a_requiretls_message_asks_requiretls_only_where_offered() {
        // A REQUIRETLS message: verified TLS, REQUIRETLS passed on, AUTH= never.
        let message = queued("<alice@a.example>", "REQUIRETLS AUTH=<> SIZE=10");
        assert_eq!(tls_for(&message, false), Tls::Verified { requiretls: true });
        let sent = mail_parameters(&message, Some(42), true, true);
        assert!(sent.require_tls);
        assert_eq!(sent.size, Some(42));
        assert_eq!(sent.auth, None);
        // Its bounce (RFC 8689 5): not dropped for want of REQUIRETLS; asked where offered.
        let bounce = queued("<>", "REQUIRETLS");
        assert_eq!(tls_for(&bounce, false), Tls::Opportunistic);
        assert_eq!(tls_for(&bounce, true), Tls::Verified { requiretls: false });
        assert!(mail_parameters(&bounce, None, true, true).require_tls);
        assert!(!mail_parameters(&bounce, None, true, false).require_tls);
        assert!(!mail_parameters(&bounce, None, false, true).require_tls);
        // Neither: opportunistic.
        assert_eq!(
            tls_for(&queued("<alice@a.example>", ""), false),
            Tls::Opportunistic
        );
    }

    #[test]
    fn pipelining_and_chunking_are_used_when_offered() {
        let config = relay_client_config(Host::new("relay.test".to_string()).expect("host"));
        assert!(config.pipelining);
        assert!(config.chunking);
        assert_eq!(config.hostname.to_string(), "relay.test");
    }

    #[test]
    fn tls_names_drop_the_literal_brackets() {
        let mut hop = hop();
        assert_eq!(tls_name(&hop), "mx.b.example");
        hop.name = "[IPv6:::1]".into();
        assert_eq!(tls_name(&hop), "::1");
        hop.name = "[127.0.0.1]".into();
        assert_eq!(tls_name(&hop), "127.0.0.1");
    }
}
