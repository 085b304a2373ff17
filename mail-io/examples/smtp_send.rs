//! Sends one message over SMTP with STARTTLS and AUTH PLAIN, on tokio, and prints the outcome
//! per recipient.
//!
//! ```sh
//! cargo run -p mail-io --example smtp_send -- HOST:PORT USER PASSWORD FROM TO [CA.pem] < message.eml
//! ```
//!
//! The server's certificate must name HOST and chain to the Web PKI roots, or be (or be signed
//! by) the certificate in `CA.pem`: a self-signed one made by `openssl req -x509` will do.

use mail_io::TlsClient;
use mail_io::smtp::{Client, Envelope, Mailbox};
use std::io::Read;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [server, user, password, from, to, rest @ ..] = args.as_slice() else {
        return Err("usage: smtp_send HOST:PORT USER PASSWORD FROM TO [CA.pem] < message".into());
    };
    let host = server
        .rsplit_once(':')
        .map_or(server.as_str(), |(host, _)| host)
        .trim_start_matches('[')
        .trim_end_matches(']'); // [::1]:587
    let tls = match rest.first() {
        Some(ca) => TlsClient::trusting_pem_file(host, ca.as_ref())?,
        None => TlsClient::webpki(host)?,
    };
    let mut message = Vec::new();
    std::io::stdin().read_to_end(&mut message)?;

    // The part a user writes: connect with STARTTLS and AUTH, send, quit.
    let mut client = Client::connect(server.as_str())
        .starttls(tls)
        .credentials(user, password)
        .await?;
    let envelope =
        Envelope::new(Mailbox::parse(from)?.into_owned()).to(Mailbox::parse(to)?.into_owned());
    let report = client.send(envelope, message.as_slice()).await?;
    client.quit().await?;

    for recipient in &report.recipients {
        let verdict = if recipient.is_delivered() {
            "accepted"
        } else {
            "refused"
        };
        println!("{}: {verdict}", recipient.to);
    }
    Ok(())
}
