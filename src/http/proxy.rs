//! Proxies, as curl and Go's clients read them: `HTTPS_PROXY` for `https://`
//! URLs, `HTTP_PROXY` for `http://` ones, `ALL_PROXY` for either when its
//! own is unset, and `NO_PROXY` (a comma list of hosts, domains, IP
//! addresses or networks, or `*`; `example.com` and `.example.com` both match
//! the domain and every host under it; a `:port` on an entry is ignored).
//! Each is read lower case first, then upper case: the lower-case one wins
//! where both are set, as in curl.
//!
//! The one place that decides, per request URL, whether a request goes
//! through a proxy: [`route`], for the ureq agent and the GitHub client
//! alike. A loopback host (`127.0.0.0/8`, `localhost`, `::1`) never does,
//! whatever the variables say, so an `http://` URL (allowed for loopback
//! only) never leaves the machine. The variables are read once, at start,
//! through the program's environment lookup ([`init`]).
//!
//! A proxy URL's password is a secret: registered for redaction and masked
//! under Actions before anything else is printed. Messages name only the
//! proxy's host.

use std::net::IpAddr;
use std::sync::OnceLock;

use hyper_util::client::proxy::matcher::{Intercept, Matcher};

use crate::secret::Secret;
use crate::workflow::Workflow;

/// The proxy of one request: for the ureq agent, and for the GitHub
/// client's CONNECT tunnel (the proxy's URL without credentials, and the
/// `Proxy-Authorization` value they make).
#[derive(Clone)]
pub struct Route {
    pub ureq: ureq::Proxy,
    pub tunnel: Intercept,
}

/// The proxies the environment names, and the hosts that bypass them.
pub struct Proxies {
    matcher: Matcher,
    https: Option<ureq::Proxy>,
    http: Option<ureq::Proxy>,
}

/// The run's proxies, set once by [`init`]: none until then.
static PROXIES: OnceLock<Option<Proxies>> = OnceLock::new();

/// Reads the proxy variables from `env` for the rest of the run,
/// registering and masking any password they carry. An unusable proxy URL
/// is an error that names the variable and at most the proxy's host.
pub fn init(env: &dyn Fn(&str) -> Option<String>, wf: &Workflow) -> Result<(), String> {
    let proxies = Proxies::from_env(env, &|password| wf.mask(&Secret::new(password)))?;
    let _ = PROXIES.set(proxies);
    Ok(())
}

/// The proxy a request to `uri` goes through, if any.
pub fn route(uri: &http::Uri) -> Option<Route> {
    PROXIES.get()?.as_ref()?.route(uri)
}

/// A variable, lower case first (curl's order), empty counting as unset.
fn var(env: &dyn Fn(&str) -> Option<String>, upper: &str) -> Option<(String, String)> {
    [upper.to_ascii_lowercase(), upper.to_owned()]
        .into_iter()
        .find_map(|name| {
            let value = env(&name)?.trim().to_owned();
            (!value.is_empty()).then_some((name, value))
        })
}

/// `true` for `localhost`, `127.0.0.0/8` (IPv4-mapped too) and `::1`, with or
/// without brackets.
pub fn is_loopback(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || match host.parse::<IpAddr>() {
            Ok(IpAddr::V6(ip)) => ip.is_loopback() || ip.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback()),
            Ok(ip) => ip.is_loopback(),
            Err(_) => false,
        }
}

/// A `NO_PROXY` entry without its port (`host:443`, `[::1]:80`).
fn without_port(entry: &str) -> &str {
    let entry = entry.trim();
    if let Some(rest) = entry.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match entry.rsplit_once(':') {
        // One colon and digits after it: a port (an IPv6 address has more).
        Some((host, port)) if !host.contains(':') && port.bytes().all(|b| b.is_ascii_digit()) => host,
        _ => entry,
    }
}

impl Proxies {
    /// The proxies `env` names, or `None` when it names none. `secret` is
    /// called with each password a proxy URL carries, before any check.
    pub fn from_env(env: &dyn Fn(&str) -> Option<String>, secret: &dyn Fn(String)) -> Result<Option<Proxies>, String> {
        let all = var(env, "ALL_PROXY");
        let https = var(env, "HTTPS_PROXY").or_else(|| all.clone());
        let http = var(env, "HTTP_PROXY").or_else(|| all.clone());
        if https.is_none() && http.is_none() {
            return Ok(None);
        }
        let parse = |found: &Option<(String, String)>| match found {
            Some((name, url)) => parse(name, url, secret).map(Some),
            None => Ok(None),
        };
        let (https_proxy, http_proxy) = (parse(&https)?, parse(&http)?);
        let no_proxy = var(env, "NO_PROXY").map(|(_, list)| list).unwrap_or_default();
        let no: Vec<&str> = no_proxy.split(',').map(without_port).collect();
        let mut matcher = Matcher::builder().no(no.join(","));
        if let Some((_, url)) = &https {
            matcher = matcher.https(url.clone());
        }
        if let Some((_, url)) = &http {
            matcher = matcher.http(url.clone());
        }
        Ok(Some(Proxies {
            matcher: matcher.build(),
            https: https_proxy,
            http: http_proxy,
        }))
    }

    /// The proxy of a request to `uri`: none for a loopback host, for a
    /// host `NO_PROXY` lists, or for a scheme no variable covers.
    pub fn route(&self, uri: &http::Uri) -> Option<Route> {
        if is_loopback(uri.host()?) {
            return None;
        }
        let tunnel = self.matcher.intercept(uri)?;
        let ureq = match uri.scheme_str()? {
            "https" => self.https.clone()?,
            "http" => self.http.clone()?,
            _ => return None,
        };
        Some(Route { ureq, tunnel })
    }
}

/// One proxy URL from variable `name`: `http://` (or no scheme), with an
/// optional `user:password@`. Its password goes to `secret` first.
fn parse(name: &str, url: &str, secret: &dyn Fn(String)) -> Result<ureq::Proxy, String> {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    // The credentials end at the last `@`, even when a password holds a raw
    // `/`, `?` or `#`: the whole of it is a secret before anything is said.
    let authority = match rest.rsplit_once('@') {
        Some((userinfo, after)) => {
            let host = after.split(['/', '?', '#']).next().unwrap_or_default();
            &rest[..userinfo.len() + 1 + host.len()]
        }
        None => rest.split(['/', '?', '#']).next().unwrap_or_default(),
    };
    let host = match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            if let Some((_, password)) = userinfo.split_once(':') {
                let decoded = percent_decode(password);
                secret(password.to_owned());
                if decoded != password {
                    secret(decoded);
                }
            }
            host
        }
        None => authority,
    };
    let unusable = |why: &str| format!("{name}: the proxy at {host} cannot be used: {why}");
    let proxy = ureq::Proxy::new(url).map_err(|_| unusable("not a proxy URL"))?;
    if proxy.protocol() != ureq::ProxyProtocol::Http {
        return Err(unusable("only http:// proxies (HTTP CONNECT) are supported"));
    }
    Ok(proxy)
}

/// `%XX` escapes decoded (a password in a URL is percent-encoded).
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok());
        match (bytes[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proxies(vars: &[(&str, &str)]) -> Option<Proxies> {
        let vars: Vec<(String, String)> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Proxies::from_env(
            &|name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()),
            &|_| {},
        )
        .unwrap()
    }

    fn via(p: &Proxies, url: &str) -> Option<String> {
        p.route(&url.parse().unwrap()).map(|r| r.ureq.host().to_owned())
    }

    #[test]
    fn nothing_set_is_no_proxy() {
        assert!(proxies(&[]).is_none());
        assert!(proxies(&[("NO_PROXY", "*"), ("HTTPS_PROXY", " ")]).is_none());
    }

    #[test]
    fn loopback_is_never_proxied() {
        let p = proxies(&[("ALL_PROXY", "http://proxy.corp:3128")]).unwrap();
        for url in [
            "http://127.0.0.1:8080/x",
            "https://127.9.0.1/",
            "http://localhost:1",
            "http://[::1]:9/",
            "https://[::ffff:127.0.0.2]/",
        ] {
            assert_eq!(via(&p, url), None, "{url}");
        }
        assert_eq!(via(&p, "https://api.github.com/").as_deref(), Some("proxy.corp"));
        assert_eq!(via(&p, "https://localhost.evil.com/").as_deref(), Some("proxy.corp"));
    }

    #[test]
    fn each_scheme_has_its_variable_and_lower_case_wins() {
        let p = proxies(&[
            ("HTTPS_PROXY", "http://upper:1"),
            ("https_proxy", "http://lower:1"),
            ("ALL_PROXY", "http://all:1"),
        ])
        .unwrap();
        assert_eq!(via(&p, "https://a.example/").as_deref(), Some("lower"));
        assert_eq!(via(&p, "http://a.example/").as_deref(), Some("all"));
        let p = proxies(&[("HTTP_PROXY", "proxy:8080")]).unwrap();
        assert_eq!(via(&p, "https://a.example/"), None);
        assert_eq!(via(&p, "http://a.example/").as_deref(), Some("proxy"));
    }

    #[test]
    fn no_proxy_matches_hosts_domains_and_star() {
        let p = proxies(&[
            ("HTTPS_PROXY", "http://proxy:1"),
            ("NO_PROXY", "UPPER.example"),
            (
                "no_proxy",
                "turso.example, .corp, 10.0.0.0/8, vercel.example:443, [2001:db8::1]:443",
            ),
        ])
        .unwrap();
        for url in [
            "https://turso.example/",
            "https://api.turso.example/",
            "https://x.corp/",
            "https://10.1.2.3/",
            "https://vercel.example/",
            "https://[2001:db8::1]/",
        ] {
            assert_eq!(via(&p, url), None, "{url}");
        }
        for url in [
            "https://upper.example/",
            "https://notturso.example/",
            "https://corp.example/",
        ] {
            assert_eq!(via(&p, url).as_deref(), Some("proxy"), "{url}");
        }
        let p = proxies(&[("HTTPS_PROXY", "http://proxy:1"), ("NO_PROXY", "*")]).unwrap();
        assert_eq!(via(&p, "https://api.github.com/"), None);
    }

    #[test]
    fn passwords_are_secrets_and_errors_name_the_host_only() {
        let seen = std::cell::RefCell::new(Vec::new());
        let env = |name: &str| (name == "https_proxy").then(|| "socks5://u:p%40ss@socks.corp:1080".to_owned());
        let error = Proxies::from_env(&env, &|s| seen.borrow_mut().push(s)).err().unwrap();
        assert_eq!(*seen.borrow(), ["p%40ss", "p@ss"]);
        assert!(
            error.starts_with("https_proxy: the proxy at socks.corp:1080 "),
            "{error}"
        );
        assert!(!error.contains("p%40ss") && !error.contains("u:"), "{error}");
    }

    #[test]
    fn a_password_with_a_raw_slash_is_still_a_secret() {
        let seen = std::cell::RefCell::new(Vec::new());
        let env = |name: &str| (name == "https_proxy").then(|| "socks5://user:pa/ss@socks.corp:1080".to_owned());
        let error = Proxies::from_env(&env, &|s| seen.borrow_mut().push(s)).err().unwrap();
        assert_eq!(*seen.borrow(), ["pa/ss"]);
        assert!(
            error.contains("socks.corp:1080") && !error.contains("user:pa"),
            "{error}"
        );
    }
}
