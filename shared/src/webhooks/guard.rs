//! The SSRF guard: webhook and callback URLs may not reach loopback,
//! private, link-local (cloud metadata), shared or multicast addresses,
//! unless an allowlisted network covers them; only `https` unless `http`
//! is allowed. Checked at registration and again at delivery, after DNS:
//! the delivery then connects to exactly the addresses that passed.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use ipnet::IpNet;
use url::Url;

use crate::config::WebhookSettings;

/// Why a URL was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("not a valid absolute URL")]
    Malformed,
    #[error("scheme {0:?} is not allowed (https only unless webhooks.allow_http)")]
    Scheme(String),
    #[error("the host does not resolve: {0}")]
    Unresolvable(String),
    #[error("{0} is a loopback, private, link-local or otherwise internal address")]
    Internal(IpAddr),
}

fn is_internal_v4(ip: Ipv4Addr) -> bool {
    let o = ip.octets();
    ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local() // 169.254.0.0/16, cloud metadata included
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || o[0] == 0
        || (o[0] == 100 && (o[1] & 0xc0) == 64) // 100.64.0.0/10 shared
        || (o[0] == 198 && (o[1] & 0xfe) == 18) // 198.18.0.0/15 benchmarking
        || (o[0] == 192 && o[1] == 0 && o[2] == 0) // 192.0.0.0/24 IETF protocol assignments
        || o[0] >= 240 // reserved
}

fn is_internal_v6(ip: Ipv6Addr) -> bool {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return is_internal_v4(v4);
    }
    let seg = ip.segments();
    // IPv4-compatible ::a.b.c.d: deprecated, with no public use, and some
    // stacks still route it to the IPv4 address, so all of it is refused.
    if seg[..6].iter().all(|s| *s == 0) {
        return true;
    }
    ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        || (seg[0] & 0xfe00) == 0xfc00 // unique local fc00::/7
        || (seg[0] & 0xffc0) == 0xfe80 // link-local fe80::/10
        || (seg[0] & 0xffc0) == 0xfec0 // site-local fec0::/10 (deprecated, still private)
        || seg[0] == 0x2002 // 6to4 2002::/16 embeds (and can reach) any IPv4
        || (seg[0] == 0x64 && seg[1] == 0xff9b) // NAT64 can reach v4 internals
}

/// Whether `ip` is internal and no allowlisted network covers it.
pub fn is_refused(ip: IpAddr, allow: &[IpNet]) -> bool {
    let internal = match ip {
        IpAddr::V4(v4) => is_internal_v4(v4),
        IpAddr::V6(v6) => is_internal_v6(v6),
    };
    internal && !allow.iter().any(|net| net.contains(&ip))
}

/// The allowlist from the settings; malformed entries are logged and skipped.
pub fn allowlist(settings: &WebhookSettings) -> Vec<IpNet> {
    settings
        .allow_networks
        .iter()
        .filter_map(|s| {
            s.parse::<IpNet>()
                .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| tracing::warn!(entry = %s, "ignoring malformed webhooks.allow_networks entry"))
                .ok()
        })
        .collect()
}

/// Parses and checks a URL, resolves its host, and returns the URL with the
/// addresses it may be reached at (all of them passed the check).
pub async fn check(raw: &str, settings: &WebhookSettings) -> Result<(Url, Vec<SocketAddr>), Refused> {
    let url = Url::parse(raw).map_err(|_| Refused::Malformed)?;
    match url.scheme() {
        "https" => {}
        "http" if settings.allow_http => {}
        other => return Err(Refused::Scheme(other.to_string())),
    }
    let host = url.host_str().ok_or(Refused::Malformed)?.trim_start_matches('[').trim_end_matches(']').to_string();
    let port = url.port_or_known_default().ok_or(Refused::Malformed)?;
    let addrs: Vec<SocketAddr> = match host.parse::<IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, port)],
        Err(_) => tokio::net::lookup_host((host.as_str(), port))
            .await
            .map_err(|e| Refused::Unresolvable(e.to_string()))?
            .collect(),
    };
    if addrs.is_empty() {
        return Err(Refused::Unresolvable("no addresses".into()));
    }
    let allow = allowlist(settings);
    if let Some(bad) = addrs.iter().find(|a| is_refused(a.ip(), &allow)) {
        return Err(Refused::Internal(bad.ip()));
    }
    Ok((url, addrs))
}

/// A DNS resolver for clients that call one host many times (a tenant's
/// LLM provider): every connection resolves the name again and keeps only
/// the addresses the guard allows, so a name that re-resolves to an
/// internal address (DNS rebinding) gets nowhere. No address left is an
/// error; the connection then fails.
#[derive(Debug, Clone)]
pub struct GuardedResolver {
    allow: Vec<IpNet>,
}

impl GuardedResolver {
    pub fn new(settings: &WebhookSettings) -> Self {
        Self { allow: allowlist(settings) }
    }

    /// `addrs` without the refused ones, or why none is left.
    pub fn keep(&self, host: &str, addrs: impl Iterator<Item = SocketAddr>) -> Result<Vec<SocketAddr>, Refused> {
        let all: Vec<SocketAddr> = addrs.collect();
        let kept: Vec<SocketAddr> = all.iter().copied().filter(|a| !is_refused(a.ip(), &self.allow)).collect();
        match (all.first(), kept.is_empty()) {
            (None, _) => Err(Refused::Unresolvable(format!("{host}: no addresses"))),
            (Some(a), true) => Err(Refused::Internal(a.ip())),
            (Some(_), false) => Ok(kept),
        }
    }
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let this = self.clone();
        Box::pin(async move {
            let host = name.as_str().to_string();
            let found = tokio::net::lookup_host((host.as_str(), 0)).await?;
            let kept = this.keep(&host, found)?;
            Ok(Box::new(kept.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(allow_http: bool, allow: &[&str]) -> WebhookSettings {
        WebhookSettings {
            allow_http,
            allow_networks: allow.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn internal_addresses_are_refused_unless_allowlisted() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "224.0.0.1",
            "::127.0.0.1",
            "::8.8.8.8",
            "fec0::1",
            "2002:7f00:1::1",
            "192.0.0.8",
        ] {
            assert!(is_refused(ip.parse().unwrap(), &[]), "{ip} should be refused");
        }
        for ip in ["93.184.216.34", "8.8.8.8", "2606:4700:4700::1111"] {
            assert!(!is_refused(ip.parse().unwrap(), &[]), "{ip} should pass");
        }
        let allow = allowlist(&settings(true, &["127.0.0.0/8", "::1"]));
        assert!(!is_refused("127.0.0.1".parse().unwrap(), &allow));
        assert!(!is_refused("::1".parse().unwrap(), &allow));
        assert!(is_refused("10.0.0.1".parse().unwrap(), &allow));
    }

    #[tokio::test]
    async fn urls_are_checked_after_resolution() {
        let strict = settings(false, &[]);
        assert_eq!(check("http://93.184.216.34/", &strict).await.unwrap_err(), Refused::Scheme("http".into()));
        assert_eq!(check("not a url", &strict).await.unwrap_err(), Refused::Malformed);
        assert!(matches!(check("https://169.254.169.254/latest", &strict).await, Err(Refused::Internal(_))));
        assert!(matches!(check("https://[::1]:8443/", &strict).await, Err(Refused::Internal(_))));
        // `localhost` resolves to loopback: refused after DNS.
        assert!(matches!(check("https://localhost/hook", &strict).await, Err(Refused::Internal(_))));
        let open = settings(true, &["127.0.0.0/8", "::1/128"]);
        let (_, addrs) = check("http://localhost:9/hook", &open).await.unwrap();
        assert!(addrs.iter().all(|a| a.ip().is_loopback() && a.port() == 9));
    }

    #[tokio::test]
    async fn the_guarded_resolver_drops_internal_addresses_at_every_lookup() {
        use reqwest::dns::Resolve;
        let name = |s: &str| s.parse::<reqwest::dns::Name>().unwrap();
        let closed = GuardedResolver::new(&settings(false, &[]));
        let err = closed.resolve(name("localhost")).await.err().expect("localhost is refused");
        assert!(err.to_string().contains("internal address"), "{err}");
        let open = GuardedResolver::new(&settings(false, &["127.0.0.0/8", "::1/128"]));
        let addrs: Vec<SocketAddr> = open.resolve(name("localhost")).await.unwrap().collect();
        assert!(!addrs.is_empty() && addrs.iter().all(|a| a.ip().is_loopback()));
        let mixed = [SocketAddr::from(([10, 0, 0, 1], 0)), SocketAddr::from(([93, 184, 215, 14], 0))];
        assert_eq!(closed.keep("h", mixed.into_iter()).unwrap(), vec![mixed[1]]);
    }
}
