//! HTTPS for ureq through rustls with the *ring* provider (no OpenSSL in `rkt`).
//!
//! The trusted roots are the system's, read by rustls-native-certs: `SSL_CERT_FILE` replaces
//! the system's bundle and `SSL_CERT_DIR` its directory of certificates, each on its own, as
//! with OpenSSL before (and Go, rkt's language). They are read once per process, on the
//! first HTTPS connection: commands that never connect never read them.
//! `--insecure-options=tls` accepts any certificate for any name
//! but still checks the handshake signatures, so the peer holds the key of what it presented.
//!
//! ureq's own rustls feature is not used: it pulls webpki-roots in and builds its default
//! config in every `AgentBuilder::new()`. [`connector`] plugs in through ureq's `TlsConnector`.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::sync::{Arc, OnceLock};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{WebPkiSupportedAlgorithms, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, ClientConnection, DigitallySignedStruct, RootCertStore, StreamOwned};

/// A ureq TLS connector: verifying against the system's roots, or (`accept_any`) not.
pub(crate) fn connector(accept_any: bool) -> Arc<Connector> {
    Arc::new(Connector(if accept_any {
        Mode::AcceptAny
    } else {
        Mode::Verify
    }))
}

/// The refused server certificate (untrusted issuer, wrong name, expired, none presented)
/// behind a ureq transport error, if that is what it is: ureq carries the handshake's
/// rustls error inside the `io::Error` the connector returned.
pub(crate) fn certificate_error(t: &ureq::Transport) -> Option<&rustls::Error> {
    std::error::Error::source(t)
        .and_then(|s| s.downcast_ref::<io::Error>())
        .and_then(io::Error::get_ref)
        .and_then(|e| e.downcast_ref::<rustls::Error>())
        .filter(|e| {
            matches!(
                e,
                rustls::Error::InvalidCertificate(_) | rustls::Error::NoCertificatesPresented
            )
        })
}

enum Mode {
    Verify,
    AcceptAny,
    #[cfg(test)]
    Given(Arc<ClientConfig>),
}

pub(crate) struct Connector(Mode);

impl Connector {
    fn config(&self) -> Arc<ClientConfig> {
        static VERIFYING: OnceLock<Arc<ClientConfig>> = OnceLock::new();
        static ACCEPTING: OnceLock<Arc<ClientConfig>> = OnceLock::new();
        match &self.0 {
            Mode::Verify => VERIFYING.get_or_init(|| Arc::new(verifying_config(system_roots()))),
            Mode::AcceptAny => ACCEPTING.get_or_init(|| Arc::new(accepting_config())),
            #[cfg(test)]
            Mode::Given(config) => config,
        }
        .clone()
    }
}

impl ureq::TlsConnector for Connector {
    fn connect(
        &self,
        host: &str,
        mut io: Box<dyn ureq::ReadWrite>,
    ) -> Result<Box<dyn ureq::ReadWrite>, ureq::Error> {
        // ureq passes IPv6 literals in brackets, as in the URL.
        let host = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        let name = ServerName::try_from(host.to_string()).map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{host:?} is not a valid TLS server name"),
            )
        })?;
        let mut conn = ClientConnection::new(self.config(), name).map_err(io_error)?;
        // Runs the whole handshake; its rustls error (e.g. "invalid peer certificate:
        // UnknownIssuer") comes back wrapped in the io::Error.
        conn.complete_io(&mut io)?;
        Ok(Box::new(TlsStream(StreamOwned::new(conn, io))))
    }
}

fn io_error(e: rustls::Error) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}

fn builder() -> rustls::ConfigBuilder<ClientConfig, rustls::WantsVerifier> {
    ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .expect("ring's default provider supports TLS 1.2 and 1.3")
}

fn verifying_config(roots: RootCertStore) -> ClientConfig {
    builder()
        .with_root_certificates(roots)
        .with_no_client_auth()
}

fn accepting_config() -> ClientConfig {
    let algorithms = rustls::crypto::ring::default_provider().signature_verification_algorithms;
    builder()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate(algorithms)))
        .with_no_client_auth()
}

/// The system's trusted roots. What could not be read is skipped (logged at debug, as OpenSSL
/// was silent about it); with none, every certificate is refused as from an unknown issuer.
fn system_roots() -> RootCertStore {
    let loaded = match (
        std::env::var_os("SSL_CERT_FILE"),
        std::env::var_os("SSL_CERT_DIR"),
    ) {
        // As OpenSSL (and rkt's Go) read them: SSL_CERT_FILE replaces the system's bundle
        // only; the system's directory of certificates is still searched unless SSL_CERT_DIR
        // replaces it too. (rustls-native-certs alone would trust the file and nothing else.)
        (Some(file), None) => {
            let mut all = rustls_native_certs::load_certs_from_paths(Some(Path::new(&file)), None);
            for dir in openssl_probe::candidate_cert_dirs() {
                let more = rustls_native_certs::load_certs_from_paths(None, Some(dir));
                all.certs.extend(more.certs);
                all.errors.extend(more.errors);
            }
            all
        }
        _ => rustls_native_certs::load_native_certs(),
    };
    for error in &loaded.errors {
        tracing::debug!(%error, "reading trusted certificates");
    }
    let mut roots = RootCertStore::empty();
    let (added, ignored) = roots.add_parsable_certificates(loaded.certs);
    tracing::debug!(added, ignored, "trusted certificates loaded");
    roots
}

/// `--insecure-options=tls`: any certificate chain, for any name. The handshake signature is
/// still checked against the presented certificate's key.
#[derive(Debug)]
struct AcceptAnyCertificate(WebPkiSupportedAlgorithms);

impl ServerCertVerifier for AcceptAnyCertificate {
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
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.0)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.0)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.supported_schemes()
    }
}

/// The TLS stream handed back to ureq.
struct TlsStream(StreamOwned<ClientConnection, Box<dyn ureq::ReadWrite>>);

impl ureq::ReadWrite for TlsStream {
    fn socket(&self) -> Option<&TcpStream> {
        self.0.get_ref().socket()
    }
}

impl Read for TlsStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf)
    }
}

impl Write for TlsStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

impl std::fmt::Debug for TlsStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TlsStream")
    }
}

#[cfg(test)]
mod tests {
    use std::net::TcpListener;

    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
    use rustls::pki_types::PrivateKeyDer;

    use super::*;

    /// A CA, and a certificate for `localhost` that it signed with its key.
    struct Pki {
        ca: CertificateDer<'static>,
        cert: CertificateDer<'static>,
        key: PrivateKeyDer<'static>,
    }

    fn pki() -> Pki {
        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca = ca_params.self_signed(&ca_key).unwrap();
        let key = KeyPair::generate().unwrap();
        let cert = CertificateParams::new(vec!["localhost".to_string()])
            .unwrap()
            .signed_by(&key, &ca, &ca_key)
            .unwrap();
        Pki {
            ca: ca.der().clone(),
            cert: cert.der().clone(),
            key: PrivateKeyDer::Pkcs8(key.serialize_der().into()),
        }
    }

    /// An HTTPS server on 127.0.0.1 presenting `pki`'s certificate and answering "ok" to
    /// each of `connections`; its port.
    fn serve(pki: &Pki, connections: usize) -> u16 {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![pki.cert.clone()], pki.key.clone_key())
            .unwrap();
        let config = Arc::new(config);
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            for tcp in listener.incoming().take(connections) {
                let conn = rustls::ServerConnection::new(config.clone()).unwrap();
                let mut tls = StreamOwned::new(conn, tcp.unwrap());
                let (mut head, mut buf) = (Vec::new(), [0u8; 1024]);
                // Up to the end of the request head, or until the client gives up.
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tls.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let _ = tls.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
                tls.conn.send_close_notify();
                let _ = tls.flush();
            }
        });
        port
    }

    fn get(connector: Connector, url: &str) -> Result<String, Box<ureq::Transport>> {
        let agent = ureq::AgentBuilder::new()
            .tls_connector(Arc::new(connector))
            .build();
        match agent.get(url).call() {
            Ok(response) => Ok(response.into_string().unwrap()),
            Err(e) => Err(Box::new(e.into_transport().expect("a transport error"))),
        }
    }

    fn trusting(ca: Option<&CertificateDer<'static>>) -> Connector {
        let mut roots = RootCertStore::empty();
        roots.add_parsable_certificates(ca.cloned());
        Connector(Mode::Given(Arc::new(verifying_config(roots))))
    }

    fn refusal(result: Result<String, Box<ureq::Transport>>) -> String {
        let t = result.expect_err("refused");
        certificate_error(&t)
            .unwrap_or_else(|| panic!("not a certificate error: {t}"))
            .to_string()
    }

    #[test]
    fn verifies_the_issuer_and_the_name() {
        let pki = pki();
        let port = serve(&pki, 3);
        let ok = get(
            trusting(Some(&pki.ca)),
            &format!("https://localhost:{port}/"),
        );
        assert_eq!(ok.unwrap(), "ok");
        let wrong_name = get(
            trusting(Some(&pki.ca)),
            &format!("https://127.0.0.1:{port}/"),
        );
        let reason = refusal(wrong_name);
        assert!(reason.contains("not valid for name"), "{reason}");
        let no_roots = get(trusting(None), &format!("https://localhost:{port}/"));
        let reason = refusal(no_roots);
        assert!(reason.contains("UnknownIssuer"), "{reason}");
    }

    #[test]
    fn insecure_accepts_any_issuer_and_name() {
        let pki = pki();
        let port = serve(&pki, 1);
        let ok = get(
            Connector(Mode::AcceptAny),
            &format!("https://127.0.0.1:{port}/"),
        );
        assert_eq!(ok.unwrap(), "ok");
    }

    #[test]
    fn other_failures_are_not_certificate_errors() {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let refused = get(
            Connector(Mode::Verify),
            &format!("https://127.0.0.1:{port}/"),
        );
        assert!(certificate_error(&refused.unwrap_err()).is_none());
    }
}
