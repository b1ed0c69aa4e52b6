//! Which URLs and addresses a webhook may reach: the guard against server-side request forgery,
//! shared by the validation of an endpoint and by each delivery.

use std::net::{IpAddr, SocketAddr};

/// The URL as a webhook may use it: https (or http to a private receiver when allowed), no
/// credentials in it.
pub fn check_url(text: &str, allow_private: bool) -> Result<url::Url, &'static str> {
    let url = url::Url::parse(text.trim()).map_err(|_| "not a URL")?;
    match url.scheme() {
        "https" => {}
        "http" if allow_private => {}
        _ => return Err("the URL must start with https://"),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("the URL must not contain a user name or password");
    }
    match url.host() {
        None => return Err("the URL has no host"),
        Some(url::Host::Ipv4(ip)) if !allow_private && !is_public(IpAddr::V4(ip)) => {
            return Err("the address is private or reserved");
        }
        Some(url::Host::Ipv6(ip)) if !allow_private && !is_public(IpAddr::V6(ip)) => {
            return Err("the address is private or reserved");
        }
        Some(_) => {}
    }
    Ok(url)
}

/// The address to connect to: the first the host resolves to, refused when any of them is not a
/// public unicast address (unless private targets are allowed).
pub async fn resolve(text: &str, allow_private: bool) -> Result<(url::Url, SocketAddr), &'static str> {
    let url = check_url(text, allow_private)?;
    let host = url.host_str().ok_or("the URL has no host")?.trim_start_matches('[').trim_end_matches(']').to_string();
    let port = url.port_or_known_default().ok_or("the URL has no port")?;
    let addresses: Vec<SocketAddr> =
        tokio::net::lookup_host((host.as_str(), port)).await.map_err(|_| "the host name does not resolve")?.collect();
    if addresses.is_empty() {
        return Err("the host name does not resolve");
    }
    if !allow_private && addresses.iter().any(|a| !is_public(a.ip())) {
        return Err("the host resolves to a private or reserved address");
    }
    Ok((url, addresses[0]))
}

/// A globally routable unicast address. `IpAddr::is_global` is not stable yet, hence this list
/// (RFC 6890 special-purpose ranges).
pub fn is_public(ip: IpAddr) -> bool {
    match ip.to_canonical() {
        IpAddr::V4(v4) => {
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
        IpAddr::V6(v6) => {
            let first = v6.segments()[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
                || first == 0x2001 && v6.segments()[1] == 0x0db8
                || first == 0x0064)
        }
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
        ] {
            assert!(!is_public(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["1.1.1.1", "93.184.216.34", "2606:4700::1111", "192.0.32.8"] {
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
    }
}
