//! TLS for both HTTP clients: which CA roots they trust, and the GitHub
//! client's HTTPS stack.
//!
//! GitHub (github.com, or a GitHub Enterprise Server behind a private CA) is
//! checked against one PEM bundle: the file `SSL_CERT_FILE` names (the way to
//! trust a private CA: the system bundle with that CA appended, say), else
//! the directories `SSL_CERT_DIR` names, else the first system bundle of
//! [`BUNDLES`] that exists. One file, read and parsed once per run, where
//! rustls-native-certs' lookup also opened each of the ~145 files of
//! `/etc/ssl/certs/`, every one a certificate the bundle already holds
//! (`docs/benchmarks.md` has the figures). A system with none of these
//! files needs `SSL_CERT_FILE` or `SSL_CERT_DIR`. The roots are loaded when
//! the client is built, so a missing bundle fails the run before any
//! request; and only for an `https://` API: plain `http://` (the tests'
//! loopback fakes) has no TLS to set up.
//!
//! Turso and the other ureq clients (libSQL, Cloudflare, Vercel, webhooks)
//! trust the Mozilla roots compiled into the binary, which costs no file and
//! no parsing; with `SSL_CERT_FILE` or `SSL_CERT_DIR` set, the same roots as
//! GitHub instead, so that one setting covers every API (a TLS-intercepting
//! proxy, say).

use std::collections::HashSet;
use std::ffi::{OsStr, OsString};
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use hyper_util::client::legacy::connect::proxy::Tunnel;
use hyper_util::client::legacy::connect::{Connect, HttpConnector};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use octocrab::service::middleware::auth_header::AuthHeaderLayer;
use octocrab::service::middleware::base_uri::BaseUriLayer;
use octocrab::service::middleware::extra_headers::ExtraHeadersLayer;
use octocrab::{AuthState, OctoBody, Octocrab, OctocrabBuilder};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use rustls::{ClientConfig, RootCertStore};

use crate::names::USER_AGENT;

/// The variable that names a PEM bundle to trust instead of the system's.
pub const CERT_FILE_VAR: &str = "SSL_CERT_FILE";
/// The variable that names directories of PEM files to trust instead.
pub const CERT_DIR_VAR: &str = "SSL_CERT_DIR";

/// The system CA bundles, in the order Go's `crypto/x509` tries them on Linux.
pub const BUNDLES: [&str; 6] = [
    "/etc/ssl/certs/ca-certificates.crt", // Debian, Ubuntu, Alpine, Arch; the image
    "/etc/pki/tls/certs/ca-bundle.crt",   // Fedora, RHEL 6
    "/etc/ssl/ca-bundle.pem",             // openSUSE
    "/etc/pki/tls/cacert.pem",            // OpenELEC
    "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem", // CentOS, RHEL 7
    "/etc/ssl/cert.pem",                  // Alpine, BSDs
];

/// The trusted roots of this run and where they came from.
pub struct Roots {
    /// The file or variables they were read from, for messages.
    pub source: String,
    /// As DER, for ureq (which builds its own store from them).
    pub certs: Vec<CertificateDer<'static>>,
    /// Parsed, for rustls.
    pub store: Arc<RootCertStore>,
}

static ROOTS: OnceLock<Roots> = OnceLock::new();

/// The roots, loaded on the first call; later calls (the second client)
/// reuse them. A failure is not remembered: each caller reports it.
pub fn roots() -> Result<&'static Roots> {
    if let Some(roots) = ROOTS.get() {
        return Ok(roots);
    }
    let roots = load(&|name| std::env::var_os(name).filter(|v| !v.is_empty()))?;
    Ok(ROOTS.get_or_init(|| roots))
}

/// Reads the roots that `var` (the environment) points at, or the system's.
fn load(var: &dyn Fn(&str) -> Option<OsString>) -> Result<Roots> {
    let (source, certs) = if let Some(file) = var(CERT_FILE_VAR) {
        let source = format!("{CERT_FILE_VAR}={}", file.to_string_lossy());
        let certs = read_bundle(Path::new(&file), &source)?;
        (source, certs)
    } else if let Some(dirs) = var(CERT_DIR_VAR) {
        (format!("{CERT_DIR_VAR}={}", dirs.to_string_lossy()), read_dirs(&dirs))
    } else if let Some(bundle) = BUNDLES.iter().map(Path::new).find(|p| p.is_file()) {
        let source = bundle.display().to_string();
        let certs = read_bundle(bundle, &source)?;
        (source, certs)
    } else {
        bail!("no root CA bundle: none of {} exists", BUNDLES.join(", "));
    };
    let mut store = RootCertStore::empty();
    let (added, _ignored) = store.add_parsable_certificates(certs.iter().cloned());
    if added == 0 {
        bail!("no root CA certificate in {source}");
    }
    Ok(Roots {
        source,
        certs,
        store: Arc::new(store),
    })
}

/// Every certificate of one PEM bundle (`source` names it in errors).
fn read_bundle(path: &Path, source: &str) -> Result<Vec<CertificateDer<'static>>> {
    let pem = std::fs::read(path).with_context(|| format!("reading the root CA bundle {source}"))?;
    CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| anyhow!("reading the root CA bundle {source}: {e}"))
}

/// Every certificate of the PEM files in the directories of `dirs` (a
/// path list), each file once however many names it has (`/etc/ssl/certs/`
/// names each twice: by name and by hash). What is not a readable PEM file
/// is skipped, as OpenSSL skips it.
fn read_dirs(dirs: &OsStr) -> Vec<CertificateDer<'static>> {
    let mut seen = HashSet::new();
    let mut certs = Vec::new();
    for dir in std::env::split_paths(dirs) {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for path in entries.flatten().map(|e| e.path()) {
            let Ok(meta) = std::fs::metadata(&path) else { continue };
            if !meta.is_file() || !seen.insert((meta.dev(), meta.ino())) {
                continue;
            }
            if let Ok(pem) = std::fs::read(&path) {
                certs.extend(CertificateDer::pem_slice_iter(&pem).filter_map(Result::ok));
            }
        }
    }
    certs
}

/// The one crypto provider of both clients: ring.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// `true` when `SSL_CERT_FILE` or `SSL_CERT_DIR` names the roots to trust.
fn roots_named() -> bool {
    [CERT_FILE_VAR, CERT_DIR_VAR]
        .iter()
        .any(|name| std::env::var_os(name).is_some_and(|v| !v.is_empty()))
}

/// TLS for the ureq agents (Turso, libSQL, Cloudflare, Vercel, consumer
/// webhooks): the compiled-in Mozilla roots, or, with `SSL_CERT_FILE` or
/// `SSL_CERT_DIR` set, the roots they name (none when they cannot be read:
/// the GitHub client reports why, and a TLS request fails on the unknown
/// issuer). Each agent gets the same parsed roots: they are read once.
pub fn ureq_config() -> ureq::tls::TlsConfig {
    let builder = ureq::tls::TlsConfig::builder().unversioned_rustls_crypto_provider(provider());
    if !roots_named() {
        return builder.build();
    }
    let certs: Vec<ureq::tls::Certificate<'static>> = match roots() {
        Ok(roots) => roots
            .certs
            .iter()
            .map(|c| ureq::tls::Certificate::from_der(c))
            .collect(),
        Err(_) => Vec::new(),
    };
    builder
        .root_certs(ureq::tls::RootCerts::Specific(Arc::new(certs)))
        .build()
}

/// The GitHub client: octocrab over hyper and rustls, HTTP/1.1 only, the
/// personal token on every request to `api_url`, which all requests go to.
/// For an `https://` URL it loads [`roots`]; a plain `http://` one (the
/// tests' loopback fakes) has no TLS to set up. Call inside the runtime that
/// will drive it: octocrab spawns its worker task here.
pub fn github_client(api_url: &str, token: &str, connect_timeout: Duration) -> Result<Octocrab> {
    let base: http::Uri = api_url.parse().with_context(|| format!("not a URL: {api_url}"))?;
    let store = match base.scheme() {
        Some(scheme) if *scheme == http::uri::Scheme::HTTP => Arc::new(RootCertStore::empty()),
        _ => Arc::clone(&roots()?.store),
    };
    let tls = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .context("setting up TLS")?
        .with_root_certificates(store)
        .with_no_client_auth();
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_connect_timeout(Some(connect_timeout));
    http.set_nodelay(true);
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1();
    // Every request goes to `api_url`'s host, so one decision covers the
    // client: through a CONNECT tunnel, TLS inside it checked as above.
    match crate::http::proxy::route(&base) {
        Some(route) => {
            let mut tunnel = Tunnel::new(route.tunnel.uri().clone(), http);
            if let Some(auth) = route.tunnel.basic_auth() {
                tunnel = tunnel.with_auth(auth.clone());
            }
            octocrab_over(https.wrap_connector(tunnel), base, token)
        }
        None => octocrab_over(https.wrap_connector(http), base, token),
    }
}

/// octocrab over a hyper client that connects with `connector`.
fn octocrab_over<C>(connector: C, base: http::Uri, token: &str) -> Result<Octocrab>
where
    C: Connect + Clone + Send + Sync + 'static,
{
    let client: Client<_, OctoBody> = Client::builder(TokioExecutor::new()).build(connector);
    let bearer = http::HeaderValue::from_str(&format!("Bearer {token}"))
        .map(|mut v| {
            v.set_sensitive(true);
            v
        })
        .map_err(|_| anyhow!("the GitHub token is not a valid header value"))?;
    let user_agent = [(http::header::USER_AGENT, http::HeaderValue::from_static(USER_AGENT))];
    let client = OctocrabBuilder::new_empty()
        .with_service(client)
        .with_layer(&BaseUriLayer::new(base.clone()))
        .with_layer(&ExtraHeadersLayer::new(Arc::new(user_agent.to_vec())))
        .with_layer(&AuthHeaderLayer::new(Some(bearer), base.clone(), base))
        .with_auth(AuthState::None)
        .build()
        .map_err(|e| anyhow!("{e}"))?;
    Ok(client)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A self-signed root (EC P-256), for the loader only: nothing trusts it.
    const ROOT: &str = "-----BEGIN CERTIFICATE-----
MIIBmDCCAT+gAwIBAgIUfaE/iAWh9OfvYl/jVawvZWHT9h0wCgYIKoZIzj0EAwIw
ITEfMB0GA1UEAwwWdHVyc28tcm90YXRlLXRlc3Qtcm9vdDAgFw0yNjExMzAwMjA0
NTVaGA8yMTI2MTEwNjAyMDQ1NVowITEfMB0GA1UEAwwWdHVyc28tcm90YXRlLXRl
c3Qtcm9vdDBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABDiOmus4wwo2O4G/CB3Z
NE/e++w8ol0P1ga0LAn17oDJd1CWueJZ8reep4pY4jGkp2YSUPt7bogZeah+wngv
HoOjUzBRMB0GA1UdDgQWBBQTygTVnBgr2mroBNT9Ir/48FYVAzAfBgNVHSMEGDAW
gBQTygTVnBgr2mroBNT9Ir/48FYVAzAPBgNVHRMBAf8EBTADAQH/MAoGCCqGSM49
BAMCA0cAMEQCIDGaPh7JC06X0SVKgSKnQdhYNPfg6zldc1/1M6xiHsW4AiB/vbcN
UHAywUpB6qY+D/Nb0l280sZ5UXTlC1I1Z6h6gQ==
-----END CERTIFICATE-----
";

    fn scratch(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("turso-rotate-tls-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn the_named_file_is_read_and_nothing_else() {
        let dir = scratch("file");
        let (file, other) = (dir.join("root.pem"), dir.join("other"));
        std::fs::write(&file, ROOT).unwrap();
        std::fs::create_dir_all(&other).unwrap();
        let env = |file: &Path| {
            let (file, other) = (file.as_os_str().to_owned(), other.as_os_str().to_owned());
            move |name: &str| match name {
                CERT_FILE_VAR => Some(file.clone()),
                CERT_DIR_VAR => Some(other.clone()),
                _ => None,
            }
        };
        let roots = load(&env(&file)).unwrap();
        assert_eq!((roots.certs.len(), roots.store.len()), (1, 1));
        assert!(roots.source.starts_with("SSL_CERT_FILE="), "{}", roots.source);

        std::fs::write(&file, "not a certificate\n").unwrap();
        let error = load(&env(&file)).err().expect("an empty bundle is refused").to_string();
        assert!(error.contains("root CA") && error.contains("SSL_CERT_FILE="), "{error}");
        let error = load(&env(&dir.join("missing.pem")))
            .err()
            .expect("a missing bundle is refused");
        assert!(format!("{error:#}").contains("missing.pem"), "{error:#}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_directory_counts_each_file_once() {
        let dir = scratch("dir");
        std::fs::write(dir.join("root.pem"), ROOT).unwrap();
        std::os::unix::fs::symlink("root.pem", dir.join("3c1c5a5e.0")).unwrap();
        std::fs::write(dir.join("README"), "not a certificate\n").unwrap();
        let dirs = std::env::join_paths([dir.join("missing"), dir.clone()]).unwrap();
        let var = |name: &str| (name == CERT_DIR_VAR).then(|| dirs.clone());
        let roots = load(&var).unwrap();
        assert_eq!((roots.certs.len(), roots.store.len()), (1, 1));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
