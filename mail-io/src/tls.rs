//! TLS settings for the drivers (rustls): whom a client trusts, what a server presents.
//!
//! A [`TlsClient`] is a rustls client configuration plus the name to check the server's
//! certificate against; a [`TlsServer`] is a rustls server configuration. Both are cheap to
//! clone (the configurations are shared). The same values serve the tokio and the blocking
//! drivers, for STARTTLS / STLS and for implicit TLS (ports 465 and 995, RFC 8314).

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, ring};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, ServerConfig,
    SignatureScheme,
};

/// The certificate and key types the constructors take (from rustls), and rustls itself.
pub use rustls::{
    self,
    pki_types::{CertificateDer, PrivateKeyDer},
};

/// Why TLS settings could not be made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// A file could not be read or held no usable PEM item.
    #[error("{path}: {reason}")]
    Pem {
        /// The file.
        path: String,
        /// What was wrong.
        reason: String,
    },
    /// The server name is neither a DNS name nor an IP address.
    #[error("invalid server name {0:?}")]
    ServerName(String),
    /// rustls refused the settings.
    #[error("TLS settings: {0}")]
    Rustls(#[from] rustls::Error),
    /// The trust store could not be built.
    #[error("certificate verifier: {0}")]
    Verifier(String),
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(ring::default_provider())
}

/// The client side: a rustls configuration and the name the server's certificate must carry.
#[derive(Clone)]
pub struct TlsClient {
    config: Arc<ClientConfig>,
    name: ServerName<'static>,
}

impl fmt::Debug for TlsClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsClient")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl TlsClient {
    /// Any rustls client configuration, checking certificates against `server_name` (a DNS
    /// name or an IP address).
    pub fn new(config: Arc<ClientConfig>, server_name: &str) -> Result<Self, TlsError> {
        let name = ServerName::try_from(server_name.to_string())
            .map_err(|_| TlsError::ServerName(server_name.to_string()))?;
        Ok(Self { config, name })
    }

    /// Trusts the Web PKI roots (Mozilla's list, from `webpki-roots`): what a client of a
    /// public mail server wants.
    pub fn webpki(server_name: &str) -> Result<Self, TlsError> {
        let mut roots = RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        let config = ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Self::new(Arc::new(config), server_name)
    }

    /// Trusts the certificates in a PEM file, as curl's `--cacert`, Python's `cafile`,
    /// fetchmail and Postfix do: each is a trust anchor for chains it signed, and a server
    /// presenting exactly one of them (a self-signed certificate, even one marked `CA:TRUE` as
    /// `openssl req -x509` makes it) is accepted while it is within its dates and names
    /// `server_name` (in a subject alternative name, or, when it has none, in its common name).
    pub fn trusting_pem_file(server_name: &str, path: &Path) -> Result<Self, TlsError> {
        let pinned = load_certificates(path)?;
        Self::trusting(server_name, pinned)
    }

    /// As [`trusting_pem_file`](Self::trusting_pem_file), from certificates already loaded.
    pub fn trusting(
        server_name: &str,
        certificates: Vec<CertificateDer<'static>>,
    ) -> Result<Self, TlsError> {
        let mut roots = RootCertStore::empty();
        let (added, _ignored) = roots.add_parsable_certificates(certificates.iter().cloned());
        if added == 0 {
            return Err(TlsError::Verifier("no usable certificate to trust".into()));
        }
        let webpki = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider())
            .build()
            .map_err(|error| TlsError::Verifier(error.to_string()))?;
        let verifier = Verifier {
            trust: Trust::PinnedOrChained {
                webpki,
                pinned: certificates,
            },
            provider: provider(),
        };
        let config = ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verifier))
            .with_no_client_auth();
        Self::new(Arc::new(config), server_name)
    }

    /// Accepts any certificate: for tests against self-signed servers only. The connection is
    /// encrypted but not authenticated; anyone on the path can read it.
    pub fn dangerous_accept_any(server_name: &str) -> Result<Self, TlsError> {
        let config = ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(Verifier {
                trust: Trust::Any,
                provider: provider(),
            }))
            .with_no_client_auth();
        Self::new(Arc::new(config), server_name)
    }

    /// The rustls configuration.
    pub fn config(&self) -> &Arc<ClientConfig> {
        &self.config
    }

    /// The name checked against the server's certificate.
    pub fn server_name(&self) -> &ServerName<'static> {
        &self.name
    }
}

/// The server side: a rustls server configuration.
#[derive(Clone)]
pub struct TlsServer {
    config: Arc<ServerConfig>,
}

impl fmt::Debug for TlsServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsServer").finish_non_exhaustive()
    }
}

impl TlsServer {
    /// Any rustls server configuration.
    pub fn new(config: Arc<ServerConfig>) -> Self {
        Self { config }
    }

    /// A certificate chain and its key.
    pub fn from_der(
        chain: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
    ) -> Result<Self, TlsError> {
        let config = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(chain, key)?;
        Ok(Self::new(Arc::new(config)))
    }

    /// A certificate chain and its key from PEM files.
    pub fn from_pem_files(certificates: &Path, key: &Path) -> Result<Self, TlsError> {
        let chain = load_certificates(certificates)?;
        let key = PrivateKeyDer::from_pem_file(key).map_err(|error| TlsError::Pem {
            path: key.display().to_string(),
            reason: error.to_string(),
        })?;
        Self::from_der(chain, key)
    }

    /// The rustls configuration.
    pub fn config(&self) -> &Arc<ServerConfig> {
        &self.config
    }
}

/// Every certificate in a PEM file (at least one).
pub fn load_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let failed = |reason: String| TlsError::Pem {
        path: path.display().to_string(),
        reason,
    };
    let certificates = CertificateDer::pem_file_iter(path)
        .map_err(|error| failed(error.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| failed(error.to_string()))?;
    if certificates.is_empty() {
        return Err(failed("no certificate".into()));
    }
    Ok(certificates)
}

/// The client's certificate check. Handshake signatures are checked the same way whatever the
/// trust.
#[derive(Debug)]
struct Verifier {
    trust: Trust,
    provider: Arc<CryptoProvider>,
}

/// Which server certificates are accepted.
#[derive(Debug)]
enum Trust {
    /// Any (`dangerous_accept_any`).
    Any,
    /// A chain to one of `pinned`, or exactly one of them that names the server.
    PinnedOrChained {
        webpki: Arc<WebPkiServerVerifier>,
        pinned: Vec<CertificateDer<'static>>,
    },
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let Trust::PinnedOrChained { webpki, pinned } = &self.trust else {
            return Ok(ServerCertVerified::assertion());
        };
        let chained =
            webpki.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now);
        let error = match chained {
            Ok(verified) => return Ok(verified),
            Err(error) => error,
        };
        // Pinning stands in for the chain only: a certificate the user trusts as it is, which
        // webpki refuses because it is its own issuer (`UnknownIssuer`) or says it is a CA
        // (`CaUsedAsEndEntity`). Every other refusal (a bad signature algorithm, a wrong name
        // in a chained certificate...) stays a refusal.
        let overridable = matches!(
            &error,
            rustls::Error::InvalidCertificate(
                CertificateError::UnknownIssuer | CertificateError::Other(_)
            )
        );
        if !overridable || !pinned.iter().any(|pinned| pinned == end_entity) {
            return Err(error);
        }
        check_pinned(end_entity, server_name, now)?;
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// The identity a client certificate names, for SASL EXTERNAL (RFC 4422 appendix A): its
/// first subject alternative name of the email kind (`rfc822Name`, RFC 5280 4.2.1.6); in a
/// certificate without any subject alternative name, its subject's first common name (a
/// certificate with alternative names of other kinds, such as `dNSName`, names its subject
/// there, so its common name is not used: RFC 6125 6.4.4 has the same rule for servers).
/// `None` for a certificate that does not parse or names neither, and for a name that is
/// empty or holds a control character (NUL, CR, LF and their kin), which no identity may.
///
/// The servers of this crate hand it to their machine
/// (`set_external_identity`) once TLS is up, when the [`TlsServer`]'s rustls configuration asked
/// the client for a certificate (`with_client_cert_verifier`) and the client sent one, which
/// rustls verified.
pub fn certificate_identity(certificate: &CertificateDer<'_>) -> Option<String> {
    use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};

    let (_, parsed) = X509Certificate::from_der(certificate.as_ref()).ok()?;
    // A malformed extension counts as present: nothing falls back to the common name then.
    let identity = match parsed.subject_alternative_name() {
        Ok(Some(names)) => names
            .value
            .general_names
            .iter()
            .find_map(|name| match name {
                GeneralName::RFC822Name(email) => Some(*email),
                _ => None,
            }),
        Ok(None) => parsed
            .subject()
            .iter_common_name()
            .find_map(|name| name.as_str().ok()),
        Err(_) => None,
    }?;
    if identity.is_empty() || identity.chars().any(char::is_control) {
        return None;
    }
    Some(String::from(identity))
}

/// What webpki would check of a chain's end entity, for a pinned self-signed certificate: its
/// dates, and that it names the server. The name is looked for in the subject alternative names
/// and, in a certificate that has none (as `openssl req -x509 -subj /CN=host` makes it), in the
/// subject's common name, as OpenSSL and curl do (RFC 6125 6.4.4).
fn check_pinned(
    end_entity: &CertificateDer<'_>,
    server_name: &ServerName<'_>,
    now: UnixTime,
) -> Result<(), rustls::Error> {
    use x509_parser::prelude::{ASN1Time, FromDer, X509Certificate};

    let (_, parsed) = X509Certificate::from_der(end_entity.as_ref())
        .map_err(|_| rustls::Error::InvalidCertificate(CertificateError::BadEncoding))?;
    let seconds = i64::try_from(now.as_secs()).unwrap_or(i64::MAX);
    let valid = ASN1Time::from_timestamp(seconds)
        .map(|time| parsed.validity().is_valid_at(time))
        .unwrap_or(false);
    if !valid {
        return Err(rustls::Error::InvalidCertificate(CertificateError::Expired));
    }
    let webpki_parsed = rustls::server::ParsedCertificate::try_from(end_entity)?;
    let by_alternative_name = rustls::client::verify_server_name(&webpki_parsed, server_name);
    let has_alternative_names = matches!(parsed.subject_alternative_name(), Ok(Some(_)));
    match (by_alternative_name, server_name) {
        (Ok(()), _) => Ok(()),
        (Err(error), ServerName::DnsName(name)) if !has_alternative_names => {
            let named = parsed
                .subject()
                .iter_common_name()
                .filter_map(|common_name| common_name.as_str().ok())
                .any(|common_name| common_name.eq_ignore_ascii_case(name.as_ref()));
            if named { Ok(()) } else { Err(error) }
        }
        (Err(error), _) => Err(error),
    }
}
