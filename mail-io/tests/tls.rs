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

/// A self-signed certificate with this subject common name and these subject alternative
/// names.
fn client_certificate(
    common_name: &str,
    names: Vec<rcgen::SanType>,
) -> mail_io::tls::CertificateDer<'static> {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, common_name);
    params.subject_alt_names = names;
    params.self_signed(&key).unwrap().der().clone()
}

/// RFC 4422 appendix A (EXTERNAL) with RFC 5280 4.2.1.6 and the rule of RFC 6125 6.4.4: the
/// common name names the client only in a certificate without subject alternative names.
#[test]
fn rfc5280_4_2_1_6_certificate_identity_uses_the_common_name_only_without_alternative_names() {
    use mail_io::tls::certificate_identity;
    let dns = rcgen::SanType::DnsName("alice.example.org".try_into().unwrap());
    let email = rcgen::SanType::Rfc822Name("alice@example.org".try_into().unwrap());
    assert_eq!(
        certificate_identity(&client_certificate("admin", vec![dns.clone()])),
        None,
        "dNSName only: the common name does not count"
    );
    assert_eq!(
        certificate_identity(&client_certificate("admin", vec![dns, email])).as_deref(),
        Some("alice@example.org")
    );
    assert_eq!(
        certificate_identity(&client_certificate("alice", Vec::new())).as_deref(),
        Some("alice")
    );
}

/// RFC 4422 appendix A: an identity with a control character (NUL, CR, LF...) is refused,
/// so it can never reach a log line or a lookup as something else.
#[test]
fn rfc4422_appendix_a_certificate_identity_refuses_control_characters() {
    use mail_io::tls::certificate_identity;
    for bad in ["ali\0ce", "alice\r\nadmin", "alice\u{7f}", "\u{85}alice"] {
        assert_eq!(
            certificate_identity(&client_certificate(bad, Vec::new())),
            None,
            "{bad:?}"
        );
    }
    let email = rcgen::SanType::Rfc822Name("alice@example.org\n".try_into().unwrap());
    assert_eq!(
        certificate_identity(&client_certificate("alice", vec![email])),
        None
    );
}
