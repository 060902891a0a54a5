//! The client's IP address as DataDog's tracers resolve it for the
//! `http.client_ip` span tag (`DD_TRACE_CLIENT_IP_ENABLED`): the first
//! public address in the first of the proxy headers present, else the
//! peer's address (dd-trace-py's `_get_request_header_client_ip`).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use http::HeaderMap;

/// The headers DataDog reads, in its order of precedence.
pub(crate) const IP_HEADERS: [&str; 10] = [
    "x-forwarded-for",
    "x-real-ip",
    "true-client-ip",
    "x-client-ip",
    "forwarded",
    "forwarded-for",
    "x-cluster-client-ip",
    "fastly-client-ip",
    "cf-connecting-ip",
    "cf-connecting-ipv6",
];

/// The client's address: from `header` only when one is configured
/// (`DD_TRACE_CLIENT_IP_HEADER`), else from the first of [`IP_HEADERS`]
/// present: its first public address, else a private one if the peer is
/// not public; `peer` when the headers have none.
pub(crate) fn client_ip(
    headers: &HeaderMap,
    peer: Option<IpAddr>,
    header: Option<&str>,
) -> Option<IpAddr> {
    if let Some(name) = header {
        // A configured header is trusted alone, and must hold one address.
        return headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse().ok());
    }
    let value = IP_HEADERS
        .iter()
        .find_map(|name| headers.get(*name))
        .and_then(|v| v.to_str().ok());
    let mut private = None;
    for ip in value
        .into_iter()
        .flat_map(|v| v.split(','))
        .filter_map(parse)
    {
        if is_global(ip) {
            return Some(ip);
        }
        private.get_or_insert(ip);
    }
    match (peer, private) {
        (Some(peer), Some(_)) if is_global(peer) => Some(peer),
        (_, Some(private)) => Some(private),
        (peer, None) => peer,
    }
}

/// One entry of an address list: `1.2.3.4`, `2001:db8::1`, or the
/// `for=` of a `Forwarded` element (`for="[2001:db8::1]"`, `for=1.2.3.4`).
fn parse(entry: &str) -> Option<IpAddr> {
    let entry = entry.trim();
    if let Ok(ip) = entry.parse() {
        return Some(ip);
    }
    entry.split(';').find_map(|pair| {
        let (key, value) = pair.trim().split_once('=')?;
        if !key.eq_ignore_ascii_case("for") {
            return None;
        }
        let value = value.trim_matches('"');
        let value = value
            .strip_prefix('[')
            .and_then(|v| v.split_once(']'))
            .map_or(value, |(ip, _)| ip);
        // `for=1.2.3.4:8080`: the port is not the address.
        value
            .parse()
            .ok()
            .or_else(|| value.rsplit_once(':').and_then(|(ip, _)| ip.parse().ok()))
    })
}

/// Whether `ip` is a public (globally routable) address.
pub(crate) fn is_global(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_global_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_global_v4(v4),
            None => is_global_v6(v6),
        },
    }
}

fn is_global_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_private()
        || ip.is_loopback()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_documentation()
        || a == 0
        // Shared address space (carrier-grade NAT), 100.64.0.0/10.
        || (a == 100 && (64..128).contains(&b))
        // Benchmarking, 198.18.0.0/15.
        || (a == 198 && (18..20).contains(&b))
        // IETF protocol assignments, 192.0.0.0/24.
        || (a == 192 && b == 0 && c == 0)
        || a >= 240)
}

fn is_global_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    !(ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        // Unique local, fc00::/7.
        || (first & 0xfe00) == 0xfc00
        // Link-local, fe80::/10.
        || (first & 0xffc0) == 0xfe80
        // Documentation, 2001:db8::/32.
        || (first == 0x2001 && ip.segments()[1] == 0x0db8))
}

#[cfg(test)]
#[path = "client_ip_differential.rs"]
mod differential;

#[cfg(test)]
mod tests {
    use super::*;

    fn ip_of(pairs: &[(&'static str, &str)], peer: &str) -> Option<String> {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.insert(*name, value.parse().unwrap());
        }
        client_ip(&headers, peer.parse().ok(), None).map(|ip| ip.to_string())
    }

    #[test]
    fn the_first_public_address_of_the_first_header_present() {
        let got = ip_of(
            &[
                ("x-forwarded-for", "10.0.0.1, 8.8.8.8, 1.1.1.1"),
                ("x-real-ip", "9.9.9.9"),
            ],
            "127.0.0.1",
        );
        assert_eq!(got.as_deref(), Some("8.8.8.8"));
        // Only the first header present counts, even when it is private.
        let got = ip_of(
            &[("x-real-ip", "10.1.1.1"), ("true-client-ip", "9.9.9.9")],
            "127.0.0.1",
        );
        assert_eq!(got.as_deref(), Some("10.1.1.1"));
        let got = ip_of(
            &[("forwarded", r#"for="[2606:4700::1]";proto=https"#)],
            "10.0.0.2",
        );
        assert_eq!(got.as_deref(), Some("2606:4700::1"));
        let got = ip_of(&[("forwarded", "for=203.0.113.9:443, for=8.8.4.4")], "::1");
        assert_eq!(
            got.as_deref(),
            Some("8.8.4.4"),
            "documentation range is not public"
        );
    }

    #[test]
    fn the_peer_when_headers_have_nothing_better() {
        assert_eq!(ip_of(&[], "10.9.8.7").as_deref(), Some("10.9.8.7"));
        assert_eq!(
            ip_of(&[("x-forwarded-for", "garbage, 192.168.1.2")], "127.0.0.1").as_deref(),
            Some("192.168.1.2")
        );
        assert_eq!(
            ip_of(&[("x-forwarded-for", "192.168.1.2")], "8.8.8.8").as_deref(),
            Some("8.8.8.8"),
            "a public peer beats a private header address"
        );
        assert_eq!(ip_of(&[("x-forwarded-for", "nope")], "").as_deref(), None);
    }

    #[test]
    fn a_configured_header_is_the_only_one_read() {
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", "8.8.8.8".parse().unwrap());
        headers.insert("x-my-ip", "10.0.0.5".parse().unwrap());
        let ip = client_ip(&headers, None, Some("x-my-ip"));
        assert_eq!(ip, Some("10.0.0.5".parse().unwrap()));
        assert_eq!(client_ip(&headers, None, Some("x-absent")), None);
    }

    #[test]
    fn public_and_private_ranges() {
        for ip in ["8.8.8.8", "2606:4700::1", "::ffff:8.8.8.8"] {
            assert!(is_global(ip.parse().unwrap()), "{ip}");
        }
        for ip in [
            "10.0.0.1",
            "172.16.0.1",
            "192.168.0.1",
            "127.0.0.1",
            "169.254.1.1",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "::1",
            "fd00::1",
            "fe80::1",
            "2001:db8::1",
            "::ffff:10.0.0.1",
        ] {
            assert!(!is_global(ip.parse().unwrap()), "{ip}");
        }
    }
}
