//! A test PKI: a CA, a server certificate and a client certificate, and TLS settings that
//! ask for the client certificate (SASL EXTERNAL, RFC 4422 appendix A). Shared by the SMTP
//! and POP3 server tests.

use std::sync::Arc;

use mail_io::tls::{CertificateDer, PrivateKeyDer};
use mail_io::{TlsClient, TlsServer};

/// A CA, a server certificate for localhost and a client certificate with `client` (subject
/// common name, subject alternative email), all signed by it.
pub(crate) struct Pki {
    pub(crate) ca: CertificateDer<'static>,
    pub(crate) server: (CertificateDer<'static>, PrivateKeyDer<'static>),
    pub(crate) client: (CertificateDer<'static>, PrivateKeyDer<'static>),
}

pub(crate) fn pki(common_name: &str, email: Option<&str>) -> Pki {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "Test CA");
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issue = |params: rcgen::CertificateParams| {
        let key = rcgen::KeyPair::generate().unwrap();
        let certificate = params.signed_by(&key, &ca, &ca_key).unwrap();
        let key = PrivateKeyDer::Pkcs8(key.serialize_der().into());
        (certificate.der().clone(), key)
    };
    let server = issue(rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap());
    let mut client = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    client
        .distinguished_name
        .push(rcgen::DnType::CommonName, common_name);
    if let Some(email) = email {
        client.subject_alt_names = vec![rcgen::SanType::Rfc822Name(email.try_into().unwrap())];
    }
    client.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
    Pki {
        ca: ca.der().clone(),
        server,
        client: issue(client),
    }
}

/// TLS on both sides, the server asking for a client certificate signed by the CA.
pub(crate) fn mutual_tls(pki: &Pki, with_client_certificate: bool) -> (TlsServer, TlsClient) {
    use rustls::RootCertStore;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = RootCertStore::empty();
    roots.add(pki.ca.clone()).unwrap();
    let roots = Arc::new(roots);
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        roots.clone(),
        provider.clone(),
    )
    .allow_unauthenticated()
    .build()
    .unwrap();
    let server = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_client_cert_verifier(verifier)
        .with_single_cert(vec![pki.server.0.clone()], pki.server.1.clone_key())
        .unwrap();
    let client = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
    let client = if with_client_certificate {
        client
            .with_client_auth_cert(vec![pki.client.0.clone()], pki.client.1.clone_key())
            .unwrap()
    } else {
        client.with_no_client_auth()
    };
    (
        TlsServer::new(Arc::new(server)),
        TlsClient::new(Arc::new(client), "localhost").unwrap(),
    )
}
