//! Name lookups for the blocking client: each host once per run. ureq's
//! own resolver looks the host up again on every request, even one that
//! reuses a pooled connection, each time on a thread of its own (so that
//! the lookup can time out). An IP address needs no lookup at all.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;

use ureq::config::Config;
use ureq::http::Uri;
use ureq::unversioned::resolver::{DefaultResolver, ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::NextTimeout;

/// ureq's resolver behind a cache of its answers, by scheme, host and port.
#[derive(Debug, Default)]
pub struct Cached {
    lookup: DefaultResolver,
    known: Mutex<HashMap<String, ResolvedSocketAddrs>>,
}

impl Resolver for Cached {
    fn resolve(&self, uri: &Uri, config: &Config, timeout: NextTimeout) -> Result<ResolvedSocketAddrs, ureq::Error> {
        if let Some(addr) = literal(uri) {
            let mut addrs = self.empty();
            addrs.push(addr);
            return Ok(addrs);
        }
        let key = format!(
            "{}://{}",
            uri.scheme_str().unwrap_or(""),
            uri.authority().map_or("", |a| a.as_str())
        );
        if let Some(addrs) = self.known.lock().unwrap_or_else(|e| e.into_inner()).get(&key) {
            return Ok(addrs.clone());
        }
        let addrs = self.lookup.resolve(uri, config, timeout)?;
        self.known
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key, addrs.clone());
        Ok(addrs)
    }
}

/// The address of a URI whose host is an IP address (and its port).
fn literal(uri: &Uri) -> Option<SocketAddr> {
    let authority = uri.authority()?;
    let host = authority.host().trim_start_matches('[').trim_end_matches(']');
    let ip: IpAddr = host.parse().ok()?;
    let port = authority.port_u16().or(match uri.scheme_str()? {
        "https" => Some(443),
        "http" => Some(80),
        _ => None,
    })?;
    Some(SocketAddr::new(ip, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ip_addresses_need_no_lookup() {
        let at = |uri: &str| literal(&uri.parse().unwrap());
        assert_eq!(at("http://127.0.0.1:8080/x"), Some("127.0.0.1:8080".parse().unwrap()));
        assert_eq!(at("https://[::1]/x"), Some("[::1]:443".parse().unwrap()));
        assert_eq!(at("https://api.turso.tech/v1"), None);
    }
}
