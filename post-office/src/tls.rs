//! TLS: the certificate the servers present (mail-io runs their handshakes); client trust.

use std::fs::File;
use std::io::BufReader;
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result, anyhow};
use mail_io::TlsServer;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::client::danger::{
    HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier,
};
use tokio_rustls::rustls::crypto::ring::default_provider;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use tokio_rustls::rustls::{
    self, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};

/// The servers' side: the given certificate chain and key (PEM files), or a self-signed
/// certificate for `hostname`, `localhost` and `127.0.0.1` made at start-up.
pub fn server(cert: Option<&Path>, key: Option<&Path>, hostname: &str) -> Result<TlsServer> {
    match (cert, key) {
        (Some(cert), Some(key)) => Ok(TlsServer::from_pem_files(cert, key)?),
        (None, None) => {
            let names = vec![
                hostname.to_string(),
                "localhost".to_string(),
                "127.0.0.1".to_string(),
            ];
            let certified = rcgen::generate_simple_self_signed(names)?;
            let cert: CertificateDer<'static> = certified.cert.der().clone();
            let key = PrivateKeyDer::try_from(certified.key_pair.serialize_der())
                .map_err(|e| anyhow!(e))?;
            Ok(TlsServer::from_der(vec![cert], key)?)
        }
        _ => Err(anyhow!("--tls-cert and --tls-key go together")),
    }
}

fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>> {
    let mut reader =
        BufReader::new(File::open(path).with_context(|| format!("{}", path.display()))?);
    let certs = rustls_pemfile::certs(&mut reader).collect::<Result<Vec<_>, _>>()?;
    if certs.is_empty() {
        return Err(anyhow!("no certificate in {}", path.display()));
    }
    Ok(certs)
}

/// The client side: trust `ca` (PEM), or anything (`insecure`), or the Web PKI roots.
pub fn connector(ca: Option<&Path>, insecure: bool) -> Result<TlsConnector> {
    let builder = ClientConfig::builder_with_provider(Arc::new(default_provider()))
        .with_safe_default_protocol_versions()?;
    let config = if insecure {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnything))
            .with_no_client_auth()
    } else {
        let mut roots = RootCertStore::empty();
        match ca {
            Some(ca) => {
                for cert in load_certs(ca)? {
                    roots.add(cert)?;
                }
            }
            None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
        }
        builder.with_root_certificates(roots).with_no_client_auth()
    };
    Ok(TlsConnector::from(Arc::new(config)))
}

/// The server name to check a certificate against.
pub fn server_name(host: &str) -> Result<ServerName<'static>> {
    ServerName::try_from(host.to_string()).map_err(|e| anyhow!("{host}: {e}"))
}

/// `--insecure`: any certificate (for tests against self-signed servers).
#[derive(Debug)]
struct AcceptAnything;

impl ServerCertVerifier for AcceptAnything {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn verify_tls13_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        default_provider()
            .signature_verification_algorithms
            .supported_schemes()
    }
}
