//! Which URLs and addresses a webhook may reach: the guard against server-side request forgery,
//! shared by the validation of an endpoint and by each delivery.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// Why a URL or its address is refused. Each has a stable code (what a delivery attempt stores
/// and the API returns, and the key of the sentence pages show in the member's language) and an
/// English sentence (the API's message and the endpoint form's fallback).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    NotAUrl,
    HttpsRequired,
    Credentials,
    NoHost,
    PrivateAddress,
    NoPort,
    DoesNotResolve,
    ResolvesPrivate,
}

impl Refusal {
    pub fn code(self) -> &'static str {
        match self {
            Self::NotAUrl => "not_a_url",
            Self::HttpsRequired => "https_required",
            Self::Credentials => "credentials_in_url",
            Self::NoHost => "no_host",
            Self::PrivateAddress => "private_address",
            Self::NoPort => "no_port",
            Self::DoesNotResolve => "dns_failed",
            Self::ResolvesPrivate => "resolves_private",
        }
    }

    /// The English sentence, as attempts logged it before they had codes.
    pub fn message(self) -> &'static str {
        match self {
            Self::NotAUrl => "not a URL",
            Self::HttpsRequired => "the URL must start with https://",
            Self::Credentials => "the URL must not contain a user name or password",
            Self::NoHost => "the URL has no host",
            Self::PrivateAddress => "the address is private or reserved",
            Self::NoPort => "the URL has no port",
            Self::DoesNotResolve => "the host name does not resolve",
            Self::ResolvesPrivate => "the host resolves to a private or reserved address",
        }
    }
}

/// The URL as a webhook may use it: https (or http to a private receiver when allowed), no
/// credentials in it.
pub fn check_url(text: &str, allow_private: bool) -> Result<url::Url, Refusal> {
    let url = url::Url::parse(text.trim()).map_err(|_| Refusal::NotAUrl)?;
    match url.scheme() {
        "https" => {}
        "http" if allow_private => {}
        _ => return Err(Refusal::HttpsRequired),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(Refusal::Credentials);
    }
    match url.host() {
        None => return Err(Refusal::NoHost),
        Some(url::Host::Ipv4(ip)) if !allow_private && !is_public(IpAddr::V4(ip)) => {
            return Err(Refusal::PrivateAddress);
        }
        Some(url::Host::Ipv6(ip)) if !allow_private && !is_public(IpAddr::V6(ip)) => {
            return Err(Refusal::PrivateAddress);
        }
        Some(_) => {}
    }
    Ok(url)
}

/// The address to connect to: the first the host resolves to, refused when any of them is not a
/// public unicast address (unless private targets are allowed).
pub async fn resolve(text: &str, allow_private: bool) -> Result<(url::Url, SocketAddr), Refusal> {
    let url = check_url(text, allow_private)?;
    let host = url.host_str().ok_or(Refusal::NoHost)?.trim_start_matches('[').trim_end_matches(']').to_string();
    let port = url.port_or_known_default().ok_or(Refusal::NoPort)?;
    let addresses: Vec<SocketAddr> =
        tokio::net::lookup_host((host.as_str(), port)).await.map_err(|_| Refusal::DoesNotResolve)?.collect();
    if addresses.is_empty() {
        return Err(Refusal::DoesNotResolve);
    }
    if !allow_private && addresses.iter().any(|a| !is_public(a.ip())) {
        return Err(Refusal::ResolvesPrivate);
    }
    Ok((url, addresses[0]))
}

/// A globally routable unicast address. `IpAddr::is_global` is not stable yet, hence these lists
/// (RFC 6890 special-purpose ranges). An IPv6 address that carries an IPv4 address is judged by
/// the IPv4 address it reaches (see [`embedded_ipv4`]); any other IPv6 address must be global
/// unicast (`2000::/3`) outside the reserved blocks in it — so site-local `fec0::/10`, unique
/// local `fc00::/7`, link-local, multicast and the rest of the address space are refused.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => match embedded_ipv4(v6) {
            Some(Embedded::One(v4)) => is_public_v4(v4),
            Some(Embedded::Teredo { server, client }) => is_public_v4(server) && is_public_v4(client),
            Some(Embedded::Reserved) => false,
            None => is_public_v6(v6),
        },
    }
}

fn is_public_v4(v4: Ipv4Addr) -> bool {
    let [a, b, c, _] = v4.octets();
    !(v4.is_private()
        || v4.is_loopback()
        || v4.is_link_local()
        || v4.is_broadcast()
        || v4.is_documentation()
        || v4.is_unspecified()
        || v4.is_multicast()
        || a == 0
        || (a == 100 && (64..128).contains(&b))
        || (a == 192 && b == 0 && c == 0)
        || (a == 198 && (18..20).contains(&b))
        || a >= 240)
}

/// A native IPv6 address (no IPv4 address in it): global unicast and not reserved.
fn is_public_v6(v6: Ipv6Addr) -> bool {
    let [first, second, ..] = v6.segments();
    let global_unicast = (first & 0xe000) == 0x2000; // 2000::/3
    let protocol_assignments = first == 0x2001 && second < 0x0200; // 2001::/23 (ORCHID, benchmarking…)
    let documentation = (first == 0x2001 && second == 0x0db8) || (first == 0x3fff && second < 0x1000);
    global_unicast && !protocol_assignments && !documentation
}

/// What an IPv6 address carries of IPv4, for the forms that reach an IPv4 host.
#[derive(Debug, PartialEq, Eq)]
enum Embedded {
    /// IPv4-mapped `::ffff:0:0/96`, IPv4-compatible `::/96`, IPv4-translated `::ffff:0:0:0/96`,
    /// NAT64 `64:ff9b::/96`, 6to4 `2002::/16`.
    One(Ipv4Addr),
    /// Teredo `2001::/32`: the relay's address and the client's (stored inverted).
    Teredo { server: Ipv4Addr, client: Ipv4Addr },
    /// Local-use NAT64 `64:ff9b:1::/48`: a network's own translator, never public.
    Reserved,
}

fn embedded_ipv4(v6: Ipv6Addr) -> Option<Embedded> {
    let s = v6.segments();
    let low = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    match s {
        [0, 0, 0, 0, 0, 0xffff, _, _] | [0, 0, 0, 0, 0, 0, _, _] | [0, 0, 0, 0, 0xffff, 0, _, _] => {
            Some(Embedded::One(low))
        }
        [0x0064, 0xff9b, 0, 0, 0, 0, _, _] => Some(Embedded::One(low)),
        [0x0064, 0xff9b, 0x0001, ..] => Some(Embedded::Reserved),
        [0x2002, a, b, ..] => Some(Embedded::One(Ipv4Addr::new((a >> 8) as u8, a as u8, (b >> 8) as u8, b as u8))),
        [0x2001, 0, a, b, _, _, c, d] => Some(Embedded::Teredo {
            server: Ipv4Addr::new((a >> 8) as u8, a as u8, (b >> 8) as u8, b as u8),
            client: Ipv4Addr::from(!((u32::from(c) << 16) | u32::from(d))),
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_and_reserved_addresses_are_not_public() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "224.0.0.1",
            "192.0.0.8",
            // Issue #10 item 17: IPv6 forms of private IPv4 addresses, and non-global IPv6.
            "::127.0.0.1",
            "::10.0.0.1",
            "::",
            "::ffff:0:169.254.169.254",
            "2002:7f00:1::1",
            "2002:a00:1::",
            "2002:c0a8:101::1",
            "fec0::1",
            "feff::1",
            "2001:0:4136:e378:8000:63bf:80ff:fffe",
            "2001:0:4136:e378:8000:63bf:f5ff:fffe",
            "64:ff9b::7f00:1",
            "64:ff9b::a9fe:a9fe",
            "64:ff9b:1::808:808",
            "2001:db8::1",
            "2001:10::1",
            "2001:2::1",
            "3fff::1",
            "5f00::1",
            "100::1",
            "4000::1",
            "ff02::1",
        ] {
            assert!(!is_public(ip.parse().unwrap()), "{ip}");
        }
        for ip in [
            "1.1.1.1",
            "93.184.216.34",
            "2606:4700::1111",
            "192.0.32.8",
            "2a01:e0a::1",
            "::ffff:1.1.1.1",
            "2002:101:101::1",
            "64:ff9b::101:101",
            // Teredo: relay 65.54.227.120, client 1.1.1.1 (stored inverted).
            "2001:0:4136:e378:8000:63bf:fefe:fefe",
        ] {
            assert!(is_public(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn urls_must_be_https_without_credentials() {
        assert!(check_url("https://hooks.example.eu/x", false).is_ok());
        assert!(check_url("http://hooks.example.eu/x", false).is_err());
        assert!(check_url("http://127.0.0.1:9/x", true).is_ok());
        assert!(check_url("https://user:pw@hooks.example.eu/x", false).is_err());
        assert!(check_url("ftp://hooks.example.eu/x", true).is_err());
        assert!(check_url("https://10.0.0.7/x", false).is_err());
        assert!(check_url("https://[::1]/x", false).is_err());
        assert!(check_url("https://[::127.0.0.1]/x", false).is_err());
        assert!(check_url("https://[2002:7f00:1::1]/x", false).is_err());
        assert!(check_url("https://[fec0::1]/x", false).is_err());
        assert!(check_url("https://[2001:0:4136:e378:8000:63bf:80ff:fffe]/x", false).is_err());
    }
}
