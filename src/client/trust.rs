//! Whom the client trusts over TLS: the system's certificate authorities, or the certificates of `--ca FILE`.
//!
//! The system's store is read by hand, as PEM, from the file the distribution keeps for OpenSSL (the paths
//! below, or `$SSL_CERT_FILE`, as OpenSSL and `rustls-native-certs` honour it). That is all
//! `rustls-native-certs` does on Linux, and reading it here needs nothing beyond rustls's own PEM parser, which
//! the server already links. `charla-bench --tls` trusts the same way.

use std::ffi::OsString;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::ParsedCertificate;
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

use crate::core::catalog::{Lang, Text};

/// Where distributions keep their certificate authorities in one PEM file, in the order tried: Debian, Ubuntu
/// and Raspberry Pi OS (`ca-certificates`), Fedora and RHEL, openSUSE, older RHEL and CentOS, Alpine and the
/// BSDs, FreeBSD's port. The same list as Go's `crypto/x509` and `openssl-probe`.
pub(crate) const SYSTEM_CA_BUNDLES: [&str; 6] = [
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/ca-bundle.pem",
    "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
    "/etc/ssl/cert.pem",
    "/usr/local/share/certs/ca-root-nss.crt",
];

/// The environment variable that names another system store, as for OpenSSL.
pub(crate) const SSL_CERT_FILE: &str = "SSL_CERT_FILE";

/// Why no certificate could be trusted; the client cannot start.
#[derive(Debug)]
pub(crate) enum TrustError {
    /// `--ca FILE` cannot be read.
    CaUnreadable { path: PathBuf, error: io::Error },
    /// `--ca FILE` holds no certificate rustls can use.
    CaEmpty { path: PathBuf },
    /// The system's store exists but cannot be read, or holds nothing usable.
    SystemUnusable { path: PathBuf, error: Option<io::Error> },
    /// No system store at any of the usual places.
    NoSystemStore,
}

impl TrustError {
    /// The one line to show the user.
    pub(crate) fn render(&self, lang: Lang) -> String {
        match self {
            TrustError::CaUnreadable { path, error } => {
                Text::CaUnreadable { path: &path.display().to_string(), reason: &error.to_string() }.render(lang)
            }
            TrustError::CaEmpty { path } => Text::CaEmpty { path: &path.display().to_string() }.render(lang),
            TrustError::SystemUnusable { path, error } => Text::SystemTrustUnusable {
                path: &path.display().to_string(),
                reason: error.as_ref().map(io::Error::to_string).as_deref(),
            }
            .render(lang),
            TrustError::NoSystemStore => Text::NoSystemTrust { looked_in: &SYSTEM_CA_BUNDLES.join(", ") }.render(lang),
        }
    }
}

/// What the client trusts.
#[derive(Debug)]
pub(crate) struct Trusted {
    /// Authorities a server's certificate may chain to.
    roots: RootCertStore,
    /// Server certificates trusted as they are, byte for byte: those of `--ca FILE`, so that a self-signed
    /// certificate works whether or not it says it is a CA. The README's own `openssl req -x509` recipe makes
    /// one that does (openssl's default `basicConstraints=CA:TRUE`), which webpki refuses as a server's
    /// certificate (`CaUsedAsEndEntity`) when it is only a root.
    pinned: Vec<CertificateDer<'static>>,
}

/// The certificates to trust: those of `ca` if given, else the system's (`ssl_cert_file` is the value of
/// `$SSL_CERT_FILE`, passed in so that tests can choose it).
pub(crate) fn root_store(ca: Option<&Path>, ssl_cert_file: Option<OsString>) -> Result<Trusted, TrustError> {
    match ca {
        Some(path) => {
            let certs = read_pem_certificates(path)
                .map_err(|error| TrustError::CaUnreadable { path: path.to_owned(), error })?;
            let roots = store_of(certs.clone());
            if roots.is_empty() {
                return Err(TrustError::CaEmpty { path: path.to_owned() });
            }
            Ok(Trusted { roots, pinned: certs })
        }
        None => {
            let path = match ssl_cert_file.filter(|file| !file.is_empty()) {
                Some(file) => PathBuf::from(file),
                None => system_bundle().ok_or(TrustError::NoSystemStore)?,
            };
            let certs = read_pem_certificates(&path)
                .map_err(|error| TrustError::SystemUnusable { path: path.clone(), error: Some(error) })?;
            let roots = store_of(certs);
            if roots.is_empty() {
                return Err(TrustError::SystemUnusable { path, error: None });
            }
            Ok(Trusted { roots, pinned: Vec::new() })
        }
    }
}

/// The first of [`SYSTEM_CA_BUNDLES`] that exists.
fn system_bundle() -> Option<PathBuf> {
    SYSTEM_CA_BUNDLES.iter().map(PathBuf::from).find(|path| path.is_file())
}

/// Every PEM certificate in `path`; other PEM sections (a key, say) are skipped.
fn read_pem_certificates(path: &Path) -> io::Result<Vec<CertificateDer<'static>>> {
    let pem = std::fs::read(path)?;
    CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("not valid PEM ({e:?})")))
}

/// The certificates webpki can use as trust anchors. A system store can hold a few it cannot parse; those are
/// left out, as every TLS library does.
fn store_of(certs: Vec<CertificateDer<'static>>) -> RootCertStore {
    let mut roots = RootCertStore::empty();
    roots.add_parsable_certificates(certs);
    roots
}

/// A client configuration trusting `trusted`: rustls's safe defaults (TLS 1.3 and 1.2) with the `ring`
/// provider, the one the server uses. The error says what rustls refused.
pub(crate) fn client_config(trusted: Trusted) -> Result<Arc<ClientConfig>, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let chained = WebPkiServerVerifier::builder_with_provider(Arc::new(trusted.roots), Arc::clone(&provider))
        .build()
        .map_err(|e| e.to_string())?;
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?;
    let config = if trusted.pinned.is_empty() {
        builder.with_webpki_verifier(chained).with_no_client_auth()
    } else {
        let verifier = Arc::new(PinnedOrChained { chained, pinned: trusted.pinned });
        builder.dangerous().with_custom_certificate_verifier(verifier).with_no_client_auth()
    };
    Ok(Arc::new(config))
}

/// webpki's verification, and failing that, a server certificate that is one of the pinned ones byte for byte
/// and names the host. The handshake's signatures are checked by webpki either way, so the server must hold
/// the certificate's key.
#[derive(Debug)]
struct PinnedOrChained {
    chained: Arc<WebPkiServerVerifier>,
    pinned: Vec<CertificateDer<'static>>,
}

impl ServerCertVerifier for PinnedOrChained {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let chained = self.chained.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now);
        match chained {
            Err(_) if self.pinned.iter().any(|pinned| pinned.as_ref() == end_entity.as_ref()) => {
                rustls::client::verify_server_name(&ParsedCertificate::try_from(end_entity)?, server_name)?;
                Ok(ServerCertVerified::assertion())
            }
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.chained.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.chained.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.chained.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_or_empty_ca_file_is_named() {
        let dir = tempfile::tempdir().expect("temp dir");
        let missing = dir.path().join("missing.pem");
        let e = root_store(Some(&missing), None).expect_err("no such file");
        assert!(e.render(Lang::En).starts_with(&format!("Cannot use --ca {}: ", missing.display())), "{e:?}");
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "no certificate here\n").expect("write");
        let e = root_store(Some(&empty), None).expect_err("nothing in it");
        assert_eq!(
            e.render(Lang::En),
            format!(
                "Cannot use --ca {}: no certificate in it (expected PEM: -----BEGIN CERTIFICATE-----)",
                empty.display()
            )
        );
    }

    #[test]
    fn ssl_cert_file_replaces_the_usual_places() {
        let dir = tempfile::tempdir().expect("temp dir");
        let missing = dir.path().join("nothing.pem");
        let e = root_store(None, Some(missing.clone().into_os_string())).expect_err("no such file");
        assert!(matches!(&e, TrustError::SystemUnusable { path, .. } if *path == missing), "{e:?}");
    }
}
