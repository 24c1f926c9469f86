//! The address a request came from, for limits on what one client may hold. It is the socket's
//! peer, unless the operator names proxies to trust (`TRUETRACE_TRUSTED_PROXIES`): only then is
//! `X-Forwarded-For` read, from the right, skipping the trusted proxies, so that a client cannot
//! choose its own address by sending the header.

use actix_web::HttpRequest;
use std::net::IpAddr;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};

/// An address block, such as `10.0.0.0/8`, `2001:db8::/32` or one address (`192.0.2.7`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpBlock {
    addr: IpAddr,
    prefix: u8,
}

impl FromStr for IpBlock {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let bad = || format!("{text:?} is not an IP address or block (e.g. 10.0.0.0/8, ::1)");
        let (addr, prefix) = match text.split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (text, None),
        };
        let addr = canonical(IpAddr::from_str(addr).map_err(|_| bad())?);
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => p.parse::<u8>().ok().filter(|p| *p <= max).ok_or_else(bad)?,
            None => max,
        };
        Ok(Self { addr, prefix })
    }
}

impl IpBlock {
    /// Whether `ip` is in this block.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, canonical(ip)) {
            (IpAddr::V4(block), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(block) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(block), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(block) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

/// An IPv4 address written as IPv6 (`::ffff:192.0.2.7`) is that IPv4 address.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// One entry of `X-Forwarded-For`: an address, possibly with a port (`192.0.2.7:4711`,
/// `[2001:db8::1]:4711`), as some proxies write it.
fn forwarded_entry(entry: &str) -> Option<IpAddr> {
    let entry = entry.trim();
    IpAddr::from_str(entry)
        .ok()
        .or_else(|| std::net::SocketAddr::from_str(entry).ok().map(|s| s.ip()))
        .map(canonical)
}

/// Said once per process: a proxy sends `X-Forwarded-For` but is not trusted.
static UNTRUSTED_PROXY_NOTED: AtomicBool = AtomicBool::new(false);

/// The client's address: the socket's peer, or, when the peer is a trusted proxy, the nearest
/// address in `X-Forwarded-For` that is not a trusted proxy. None only when the server has no
/// peer address (a test request).
pub fn client_ip(req: &HttpRequest, trusted: &[IpBlock]) -> Option<IpAddr> {
    let peer = canonical(req.peer_addr()?.ip());
    let forwarded: Vec<&str> = req
        .headers()
        .get_all("x-forwarded-for")
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .collect();
    if !trusted.iter().any(|b| b.contains(peer)) {
        if !forwarded.is_empty() && !UNTRUSTED_PROXY_NOTED.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                %peer,
                "a request carries X-Forwarded-For from an untrusted peer: the header is ignored; \
                 if this server is behind a proxy, set TRUETRACE_TRUSTED_PROXIES, or every client \
                 counts as the proxy's address"
            );
        }
        return Some(peer);
    }
    // From the nearest hop outwards; an entry that cannot be read ends the walk at the last
    // trusted hop, which counts all such clients together rather than letting one choose.
    let mut client = peer;
    for entry in forwarded.iter().rev() {
        let Some(ip) = forwarded_entry(entry) else {
            break;
        };
        client = ip;
        if !trusted.iter().any(|b| b.contains(ip)) {
            break;
        }
    }
    Some(client)
}

/// The key one client's holdings are counted under: its IPv4 address, or its IPv6 /64 (one
/// subscriber's network, in which an address is easily changed).
pub fn limit_key(ip: IpAddr) -> String {
    match canonical(ip) {
        IpAddr::V6(v6) => {
            let network = u128::from(v6) & (u128::MAX << 64);
            format!("{}/64", std::net::Ipv6Addr::from(network))
        }
        v4 => v4.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    fn blocks(list: &[&str]) -> Vec<IpBlock> {
        list.iter().map(|b| b.parse().unwrap()).collect()
    }

    fn from(peer: &str, forwarded: Option<&str>, trusted: &[IpBlock]) -> String {
        let mut req = TestRequest::default().peer_addr(peer.parse().unwrap());
        if let Some(f) = forwarded {
            req = req.insert_header(("X-Forwarded-For", f));
        }
        client_ip(&req.to_http_request(), trusted)
            .unwrap()
            .to_string()
    }

    #[test]
    fn blocks_parse_and_contain() {
        let b: IpBlock = "10.1.0.0/16".parse().unwrap();
        assert!(b.contains("10.1.200.3".parse().unwrap()));
        assert!(!b.contains("10.2.0.1".parse().unwrap()));
        assert!(
            b.contains("::ffff:10.1.0.9".parse().unwrap()),
            "IPv4 written as IPv6"
        );
        let v6: IpBlock = "2001:db8::/32".parse().unwrap();
        assert!(v6.contains("2001:db8:ffff::1".parse().unwrap()));
        assert!(!v6.contains("10.1.0.1".parse().unwrap()));
        let one: IpBlock = "127.0.0.1".parse().unwrap();
        assert!(one.contains("127.0.0.1".parse().unwrap()));
        assert!(!one.contains("127.0.0.2".parse().unwrap()));
        let all: IpBlock = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains("203.0.113.9".parse().unwrap()));
        for bad in ["10.0.0.0/33", "nope", "10.0.0.0/", "::/129", ""] {
            assert!(bad.parse::<IpBlock>().is_err(), "{bad}");
        }
    }

    #[test]
    fn the_header_counts_only_from_a_trusted_proxy_and_only_up_to_the_first_untrusted_hop() {
        let none = blocks(&[]);
        let proxies = blocks(&["10.0.0.0/8"]);
        // Not behind a trusted proxy: whatever the header says, the peer.
        assert_eq!(
            from("198.51.100.4:5000", Some("1.2.3.4"), &none),
            "198.51.100.4"
        );
        assert_eq!(
            from("198.51.100.4:5000", Some("1.2.3.4"), &proxies),
            "198.51.100.4"
        );
        // Behind one: the nearest untrusted entry; a client's own prefix is not believed.
        assert_eq!(
            from("10.0.0.2:5000", Some("203.0.113.7"), &proxies),
            "203.0.113.7"
        );
        assert_eq!(
            from(
                "10.0.0.2:5000",
                Some("6.6.6.6, 203.0.113.7, 10.0.0.9"),
                &proxies
            ),
            "203.0.113.7"
        );
        assert_eq!(
            from("10.0.0.2:5000", Some("[2001:db8::7]:443"), &proxies),
            "2001:db8::7"
        );
        assert_eq!(from("10.0.0.2:5000", None, &proxies), "10.0.0.2");
        assert_eq!(
            from("10.0.0.2:5000", Some("garbage, 10.0.0.7"), &proxies),
            "10.0.0.7",
            "an unreadable entry stops at the last trusted hop"
        );
    }

    #[test]
    fn an_ipv6_client_is_counted_by_its_network() {
        assert_eq!(
            limit_key("2001:db8:1:2:aaaa::1".parse().unwrap()),
            "2001:db8:1:2::/64"
        );
        assert_eq!(limit_key("::ffff:192.0.2.7".parse().unwrap()), "192.0.2.7");
        assert_eq!(limit_key("192.0.2.7".parse().unwrap()), "192.0.2.7");
    }
}
