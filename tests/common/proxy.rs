//! A forward proxy on loopback. It answers `CONNECT host:port` for the hosts
//! it was given, terminates TLS itself with a certificate for that host
//! issued by a CA the test makes (trusted by the binary through
//! `SSL_CERT_FILE`), and relays the plaintext to the fake that stands for
//! the host. It records every request head it gets, resolves no name and
//! connects nowhere but loopback; anything else gets a 502.

use std::collections::BTreeMap;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ServerConfig, ServerConnection};

/// One request head the proxy received.
#[derive(Debug, Clone)]
pub struct Seen {
    /// `CONNECT turso.example:443 HTTP/1.1`, or whatever came.
    pub line: String,
    pub proxy_authorization: Option<String>,
}

pub struct FakeProxy {
    port: u16,
    ca_file: PathBuf,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl FakeProxy {
    /// A proxy that carries `host:port` (each key of `backends`) to the
    /// loopback fake at the URL it maps to.
    pub fn start(backends: &[(&str, String)]) -> FakeProxy {
        let ca_key = KeyPair::generate().expect("CA key");
        let mut ca = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca_cert = ca.self_signed(&ca_key).expect("CA certificate");
        let issuer = Issuer::new(ca, ca_key);
        let mut sites = BTreeMap::new();
        for (authority, url) in backends {
            let host = authority.rsplit_once(':').map_or(*authority, |(h, _)| h);
            let key = KeyPair::generate().expect("key");
            let cert = CertificateParams::new(vec![host.to_owned()])
                .expect("params")
                .signed_by(&key, &issuer)
                .expect("certificate");
            let config = ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .expect("TLS versions")
                .with_no_client_auth()
                .with_single_cert(
                    vec![CertificateDer::from(cert.der().to_vec())],
                    PrivateKeyDer::Pkcs8(key.serialize_der().into()),
                )
                .expect("server certificate");
            let backend: SocketAddr = url
                .trim_start_matches("http://")
                .trim_end_matches('/')
                .parse()
                .expect("a loopback fake's address");
            sites.insert(authority.to_string(), (Arc::new(config), backend));
        }
        let ca_file = std::env::temp_dir().join(format!(
            "turso-rotate-proxy-ca-{}-{}.pem",
            std::process::id(),
            super::server::random_bytes::<8>()
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
        ));
        std::fs::write(&ca_file, ca_cert.pem()).expect("write the CA bundle");

        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let port = listener.local_addr().expect("address").port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (log, sites) = (Arc::clone(&seen), Arc::new(sites));
        thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let (log, sites) = (Arc::clone(&log), Arc::clone(&sites));
                thread::spawn(move || serve(client, &log, &sites));
            }
        });
        FakeProxy { port, ca_file, seen }
    }

    /// `http://127.0.0.1:PORT`, with `userinfo@` when given.
    pub fn url_with(&self, userinfo: &str) -> String {
        format!("http://{userinfo}127.0.0.1:{}", self.port)
    }

    pub fn url(&self) -> String {
        self.url_with("")
    }

    /// A PEM bundle holding the CA that issued the proxy's certificates.
    pub fn ca_file(&self) -> &Path {
        &self.ca_file
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The `host:port` of each CONNECT, sorted, each once.
    pub fn connects(&self) -> Vec<String> {
        let mut hosts: Vec<String> = self
            .seen()
            .iter()
            .filter_map(|s| s.line.strip_prefix("CONNECT ")?.split(' ').next().map(str::to_owned))
            .collect();
        hosts.sort();
        hosts.dedup();
        hosts
    }
}

impl Drop for FakeProxy {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.ca_file);
    }
}

type Sites = BTreeMap<String, (Arc<ServerConfig>, SocketAddr)>;

fn serve(mut client: TcpStream, log: &Mutex<Vec<Seen>>, sites: &Sites) {
    let _ = client.set_read_timeout(Some(Duration::from_secs(10)));
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match client.read(&mut byte) {
            Ok(1) if head.len() < 64 * 1024 => head.push(byte[0]),
            _ => return,
        }
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    let mut lines = head.split("\r\n");
    let line = lines.next().unwrap_or_default().to_owned();
    let proxy_authorization = lines
        .filter_map(|l| l.split_once(':'))
        .find(|(name, _)| name.eq_ignore_ascii_case("proxy-authorization"))
        .map(|(_, value)| value.trim().to_owned());
    log.lock().unwrap_or_else(|e| e.into_inner()).push(Seen {
        line: line.clone(),
        proxy_authorization,
    });
    let site = line
        .strip_prefix("CONNECT ")
        .and_then(|rest| rest.split(' ').next())
        .and_then(|authority| sites.get(authority));
    let Some((config, backend)) = site else {
        let _ = client.write_all(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n");
        return;
    };
    if client
        .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
        .is_err()
    {
        return;
    }
    let _ = relay(client, Arc::clone(config), *backend);
}

/// Terminates TLS on `client` and copies plaintext both ways with `backend`
/// until either side closes.
fn relay(mut client: TcpStream, config: Arc<ServerConfig>, backend: SocketAddr) -> std::io::Result<()> {
    let mut tls = ServerConnection::new(config).map_err(std::io::Error::other)?;
    let mut backend = TcpStream::connect(backend)?;
    client.set_nonblocking(true)?;
    backend.set_nonblocking(true)?;
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let mut busy = false;
        match tls.read_tls(&mut client) {
            Ok(0) => return Ok(()),
            Ok(_) => {
                busy = true;
                if let Err(e) = tls.process_new_packets() {
                    let _ = tls.write_tls(&mut client);
                    return Err(std::io::Error::other(e));
                }
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
        loop {
            match tls.reader().read(&mut buf) {
                Ok(0) => return Ok(()),
                Ok(n) => {
                    busy = true;
                    write_all(&mut backend, &buf[..n])?;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) => return Err(e),
            }
        }
        match backend.read(&mut buf) {
            Ok(0) => {
                tls.send_close_notify();
                while tls.wants_write() && tls.write_tls(&mut client).is_ok() {}
                return Ok(());
            }
            Ok(n) => {
                busy = true;
                tls.writer().write_all(&buf[..n])?;
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
        while tls.wants_write() {
            match tls.write_tls(&mut client) {
                Ok(_) => busy = true,
                Err(e) if e.kind() == ErrorKind::WouldBlock => thread::sleep(Duration::from_millis(1)),
                Err(e) => return Err(e),
            }
        }
        if !busy {
            thread::sleep(Duration::from_millis(1));
        }
    }
}

/// `write_all` on a non-blocking socket.
fn write_all(stream: &mut TcpStream, mut bytes: &[u8]) -> std::io::Result<()> {
    while !bytes.is_empty() {
        match stream.write(bytes) {
            Ok(0) => return Err(ErrorKind::WriteZero.into()),
            Ok(n) => bytes = &bytes[n..],
            Err(e) if e.kind() == ErrorKind::WouldBlock => thread::sleep(Duration::from_millis(1)),
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
