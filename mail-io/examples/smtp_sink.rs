//! An SMTP sink: accepts every message on 127.0.0.1 at the port given as argument (2525 by
//! default) and prints one line per message. Try it with
//! `swaks --server 127.0.0.1:2525 --to bob@example.com`. Ctrl-C ends it.

use mail_io::ServeOptions;
use mail_io::smtp::{Answer, Handler, ServerConfig, serve};

/// The handler of one connection: every decision but the end of a message keeps its default
/// (accept).
struct Sink;

impl Handler for Sink {
    async fn message_end(&mut self, size: u64, recipients: usize) -> Answer {
        println!("message of {size} octets for {recipients} recipient(s)");
        Answer::Accept
    }
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let port = std::env::args().nth(1).unwrap_or_else(|| "2525".into());
    let listener = tokio::net::TcpListener::bind(format!("127.0.0.1:{port}")).await?;
    let options = ServeOptions::new();
    let shutdown = options.shutdown.clone();
    // Ctrl-C: every open session is told 421 and closed, then `serve` returns.
    tokio::spawn(async move { tokio::signal::ctrl_c().await.map(|()| shutdown.trigger()) });
    serve(listener, ServerConfig::default(), options, |_| Sink).await;
    Ok(())
}
