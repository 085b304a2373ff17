//! TLS policy: which certificate the servers present, whom the clients trust. The handshakes
//! themselves are mail-io's.

use std::path::Path;

use anyhow::{Result, anyhow};
use mail_io::tls::{CertificateDer, PrivateKeyDer};
use mail_io::{TlsClient, TlsServer};

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

/// The clients' side, checking the certificate against `host`: anything (`--insecure`), the
/// certificates of a PEM file (`--ca`: a CA that signed the server's certificate, or the
/// server's own self-signed certificate, even one marked CA:TRUE), or the Web PKI roots.
pub fn client(host: &str, ca: Option<&Path>, insecure: bool) -> Result<TlsClient> {
    let tls = if insecure {
        TlsClient::dangerous_accept_any(host)?
    } else if let Some(ca) = ca {
        TlsClient::trusting_pem_file(host, ca)?
    } else {
        TlsClient::webpki(host)?
    };
    Ok(tls)
}
