//! `TlsClient::trusting`: what a pinned self-signed certificate is accepted for, and what not.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use mail_io::tls::{CertificateDer, PrivateKeyDer};
use mail_io::{Connection, Error, IoConfig, TlsClient, TlsServer};
use smtp_proto::client::{Client, ClientConfig, TlsPolicy};
use smtp_proto::server::{Server, ServerConfig};
use tokio::net::TcpListener;

/// A self-signed certificate with these alternative names (none: only the common name).
fn certificate(
    names: &[&str],
    common_name: &str,
    ca: bool,
    expired: bool,
) -> (CertificateDer<'static>, PrivateKeyDer<'static>) {
    let names: Vec<String> = names.iter().map(|name| name.to_string()).collect();
    let mut params = rcgen::CertificateParams::new(names).unwrap();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, common_name);
    if ca {
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    }
    if expired {
        params.not_before = rcgen::date_time_ymd(2001, 1, 1);
        params.not_after = rcgen::date_time_ymd(2004, 1, 1);
    }
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap();
    let key = PrivateKeyDer::try_from(key.serialize_der()).unwrap();
    (cert.der().clone(), key)
}

/// Whether a client that pins `pinned` and expects `name` gets through to a server presenting
/// `presented`.
async fn handshake(
    presented: (CertificateDer<'static>, PrivateKeyDer<'static>),
    pinned: CertificateDer<'static>,
    name: &str,
) -> Result<(), Error> {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server_tls = TlsServer::from_der(vec![presented.0], presented.1).unwrap();
    let server = tokio::spawn(async move {
        let (socket, _) = listener.accept().await.unwrap();
        Connection::new(Server::new(ServerConfig::default()), socket)
            .accept_tls(server_tls)
            .await
            .map(|_| ())
    });
    let client = Client::new(ClientConfig {
        tls: TlsPolicy::Never,
        implicit_tls: true,
        ..ClientConfig::default()
    });
    let tls = TlsClient::trusting(name, vec![pinned]).unwrap();
    let outcome = Connection::connect(addr, client, IoConfig::default())
        .await
        .unwrap()
        .connect_tls(tls)
        .await
        .map(|_| ());
    let _ = server.await;
    outcome
}

#[tokio::test]
async fn a_pinned_certificate_is_accepted_with_its_names_and_ca_flag() {
    for ca in [false, true] {
        let cert = certificate(&["localhost", "mail.example"], "whatever", ca, false);
        let pinned = cert.0.clone();
        assert!(
            handshake(cert, pinned, "mail.example").await.is_ok(),
            "ca = {ca}"
        );
    }
}

#[tokio::test]
async fn a_pinned_certificate_without_alternative_names_is_matched_by_its_common_name() {
    let cert = certificate(&[], "localhost", true, false);
    let pinned = cert.0.clone();
    assert!(handshake(cert, pinned, "localhost").await.is_ok());
    let cert = certificate(&[], "localhost", true, false);
    let pinned = cert.0.clone();
    assert!(matches!(
        handshake(cert, pinned, "other.example").await,
        Err(Error::Tls(_))
    ));
}

#[tokio::test]
async fn a_common_name_does_not_count_beside_alternative_names() {
    let cert = certificate(&["mail.example"], "localhost", false, false);
    let pinned = cert.0.clone();
    assert!(matches!(
        handshake(cert, pinned, "localhost").await,
        Err(Error::Tls(_))
    ));
}

#[tokio::test]
async fn an_expired_pinned_certificate_is_refused() {
    for ca in [false, true] {
        let cert = certificate(&["localhost"], "localhost", ca, true);
        let pinned = cert.0.clone();
        assert!(
            matches!(
                handshake(cert, pinned, "localhost").await,
                Err(Error::Tls(_))
            ),
            "ca = {ca}"
        );
    }
}

#[tokio::test]
async fn a_certificate_that_is_not_the_pinned_one_is_refused() {
    let cert = certificate(&["localhost"], "localhost", true, false);
    let (other, _) = certificate(&["localhost"], "localhost", true, false);
    assert!(matches!(
        handshake(cert, other, "localhost").await,
        Err(Error::Tls(_))
    ));
}
