//! Which resolved addresses a component's request may connect to: public unicast ones.
//! Loopback, private (RFC 1918), link-local (the cloud metadata address among them), ULA,
//! CGNAT, unspecified, multicast and the special-purpose ranges are refused, and an IPv6
//! address that embeds an IPv4 one (v4-mapped, NAT64) is judged by the IPv4 address.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Why an address is refused, or `None` when a request may connect to it.
pub fn refused_because(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => v4_refused(v4),
        IpAddr::V6(v6) => v6_refused(v6),
    }
}

fn v4_refused(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();
    Some(match () {
        _ if ip.is_loopback() => "loopback",
        _ if ip.is_private() => "private network (RFC 1918)",
        _ if ip.is_link_local() => "link-local",
        _ if ip.is_unspecified() || a == 0 => "unspecified (0.0.0.0/8)",
        _ if a == 100 && (64..128).contains(&b) => "shared address space (CGNAT, 100.64.0.0/10)",
        _ if ip.is_multicast() || ip.is_broadcast() || a >= 240 => {
            "multicast, broadcast or reserved"
        }
        _ if a == 192 && b == 0 && c == 0 => "IETF protocol assignments (192.0.0.0/24)",
        _ if a == 198 && (18..20).contains(&b) => "benchmarking (198.18.0.0/15)",
        _ if ip.is_documentation() => "documentation",
        _ => return None,
    })
}

fn v6_refused(ip: Ipv6Addr) -> Option<&'static str> {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return v4_refused(v4).map(|_| "an IPv4-mapped private address");
    }
    let seg = ip.segments();
    // NAT64 (64:ff9b::/96) carries an IPv4 address in its last 32 bits.
    if seg[0] == 0x64 && seg[1] == 0xff9b && seg[2..6] == [0, 0, 0, 0] {
        let v4 = Ipv4Addr::new(
            (seg[6] >> 8) as u8,
            seg[6] as u8,
            (seg[7] >> 8) as u8,
            seg[7] as u8,
        );
        return v4_refused(v4).map(|_| "a NAT64 private address");
    }
    Some(match () {
        _ if ip.is_loopback() => "loopback",
        _ if ip.is_unspecified() => "unspecified",
        _ if (seg[0] & 0xfe00) == 0xfc00 => "unique local (ULA, fc00::/7)",
        _ if (seg[0] & 0xffc0) == 0xfe80 => "link-local",
        _ if (seg[0] & 0xff00) == 0xff00 => "multicast",
        _ if seg[0] == 0x2001 && seg[1] == 0x0db8 => "documentation",
        // IPv4-compatible (::a.b.c.d, deprecated) — refuse rather than interpret.
        _ if seg[..6] == [0, 0, 0, 0, 0, 0] => "IPv4-compatible",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_and_special_addresses_are_refused() {
        for a in [
            "127.0.0.1",
            "127.255.0.9",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "100.127.255.255",
            "0.0.0.0",
            "0.1.2.3",
            "224.0.0.1",
            "255.255.255.255",
            "198.18.0.1",
            "::1",
            "::",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "::127.0.0.1",
        ] {
            let ip: IpAddr = a.parse().unwrap();
            assert!(refused_because(ip).is_some(), "{a} must be refused");
        }
    }

    #[test]
    fn public_addresses_pass() {
        for a in [
            "104.18.7.192",
            "8.8.8.8",
            "100.128.0.1",
            "2606:4700::6812:7c0",
            "::ffff:8.8.8.8",
        ] {
            let ip: IpAddr = a.parse().unwrap();
            assert_eq!(refused_because(ip), None, "{a}");
        }
    }
}
