//! A certificate authority the test makes, and certificates it issues: what
//! a server on loopback presents, trusted by the client through a PEM
//! bundle the client is pointed at (`SSL_CERT_FILE`).

use std::path::{Path, PathBuf};

use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};

pub struct TestCa {
    issuer: Issuer<'static, KeyPair>,
    file: PathBuf,
}

/// A certificate and its private key, both PEM, written to files.
pub struct Issued {
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
}

impl TestCa {
    /// A new CA; its certificate is written to [`TestCa::file`] (removed on drop).
    pub fn new() -> TestCa {
        let key = KeyPair::generate().expect("CA key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let cert = params.self_signed(&key).expect("CA certificate");
        let file = std::env::temp_dir().join(format!("turso-rotate-ca-{}.pem", super::unique_tag()));
        std::fs::write(&file, cert.pem()).expect("write the CA bundle");
        TestCa {
            issuer: Issuer::new(params, key),
            file,
        }
    }

    /// The PEM bundle that holds this CA alone.
    pub fn file(&self) -> &Path {
        &self.file
    }

    /// A server certificate for `names` (DNS names or IP addresses), with
    /// its key, written into `dir`.
    pub fn issue(&self, names: &[&str], dir: &Path) -> Issued {
        let key = KeyPair::generate().expect("key");
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let cert = CertificateParams::new(names)
            .expect("params")
            .signed_by(&key, &self.issuer)
            .expect("certificate");
        let issued = Issued {
            cert_file: dir.join("cert.pem"),
            key_file: dir.join("key.pem"),
        };
        std::fs::write(&issued.cert_file, cert.pem()).expect("write the certificate");
        std::fs::write(&issued.key_file, key.serialize_pem()).expect("write the key");
        issued
    }
}

impl Drop for TestCa {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.file);
    }
}
