//! The address a request came from, for limits on what one client may hold. It is the socket's
//! peer, unless the operator names proxies to trust (`TRUETRACE_TRUSTED_PROXIES`): only then is
//! `X-Forwarded-For` read, from the right, skipping the trusted proxies, so that a client cannot
//! choose its own address by sending the header.

#[cfg(test)]
use crate::domain::ip_block::limit_key;
use crate::domain::ip_block::{IpBlock, canonical};
use actix_web::HttpRequest;
use std::net::IpAddr;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};

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
