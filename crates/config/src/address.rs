//! Checks a server address (`vault.address`, and `VAULT_ADDR` or `-address` in the agent)
//! before anything connects to it.
//!
//! An address is `http://` or `https://`, a host (a name, an IPv4 address, or an IPv6 address
//! in brackets), an optional port from 1 to 65535 and an optional path. Everything else is
//! refused with a message that says what is wrong, so that a typo is found when the config is
//! validated rather than as a connection error later.

use std::net::{Ipv4Addr, Ipv6Addr};

use crate::syntax::describe_char;

/// Checks that `address` is a usable server URL.
///
/// The error completes a sentence that starts with the name of the setting, e.g.
/// "`vault.address` has no host after `http://`" or "VAULT_ADDR has port 99999, which is
/// not from 1 to 65535".
pub fn check_address(address: &str) -> Result<(), String> {
    if let Some(c) = address
        .chars()
        .find(|c| c.is_whitespace() || c.is_control())
    {
        let found = if c == ' ' {
            "a space".to_owned()
        } else {
            describe_char(Some(c))
        };
        return Err(format!("contains {found}"));
    }
    let (scheme, rest) = match address.split_once("://") {
        Some((scheme @ ("http" | "https"), rest)) => (scheme, rest),
        _ => return Err("must start with http:// or https://".to_owned()),
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    if path.contains(['?', '#']) {
        return Err("has a query (`?`) or a fragment (`#`); give the server's URL only".to_owned());
    }
    if authority.contains('@') {
        return Err("has a user name or password (`…@`); give the server's URL only".to_owned());
    }
    let (host, port) = match authority.strip_prefix('[') {
        Some(bracketed) => {
            let Some((ip, after)) = bracketed.split_once(']') else {
                return Err("has an IPv6 address without its closing `]`".to_owned());
            };
            if ip.parse::<Ipv6Addr>().is_err() {
                return Err(format!("has `[{ip}]`, which is not an IPv6 address"));
            }
            match after.strip_prefix(':') {
                Some(port) => (ip, Some(port)),
                None if after.is_empty() => (ip, None),
                None => {
                    return Err(format!(
                        "has `{after}` after its IPv6 address; expected `:` and a port, or a path"
                    ));
                }
            }
        }
        None => {
            if authority.contains(']') {
                return Err("has a `]` without its opening `[`".to_owned());
            }
            if authority.matches(':').count() > 1 {
                return Err(format!(
                    "has more than one `:` in `{authority}`; an IPv6 address is written in brackets, as in http://[::1]:8200"
                ));
            }
            let (host, port) = match authority.split_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (authority, None),
            };
            if let Some(bad) = host
                .chars()
                .find(|c| !(c.is_alphanumeric() || matches!(c, '-' | '.' | '_' | '~')))
            {
                return Err(format!(
                    "has {} in its host name `{host}`",
                    describe_char(Some(bad))
                ));
            }
            if !host.is_empty()
                && host.chars().all(|c| c.is_ascii_digit() || c == '.')
                && host.parse::<Ipv4Addr>().is_err()
            {
                return Err(format!(
                    "has the host `{host}`, which is not an IPv4 address"
                ));
            }
            (host, port)
        }
    };
    if host.is_empty() {
        return Err(format!("has no host after `{scheme}://`"));
    }
    if let Some(port) = port {
        if port.is_empty() {
            return Err("has no port after `:`".to_owned());
        }
        let valid = port.chars().all(|c| c.is_ascii_digit())
            && port.parse::<u32>().is_ok_and(|n| (1..=65535).contains(&n));
        if !valid {
            return Err(format!("has port {port}, which is not from 1 to 65535"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn good_addresses() {
        for address in [
            "http://127.0.0.1:8200",
            "https://vault.example.com",
            "https://vault.example.com:8200/",
            "https://vault.example.com/prefix/path",
            "http://[::1]:8200",
            "http://[::1]",
            "https://[2001:db8::1]/x",
            "http://localhost:1",
            "http://localhost:65535",
            "https://bücher.example",
            "http://my_vault.internal.",
        ] {
            assert_eq!(check_address(address), Ok(()), "{address}");
        }
    }

    #[test]
    fn bad_addresses() {
        for (address, error) in [
            ("vault:8200", "must start with http:// or https://"),
            ("ftp://vault", "must start with http:// or https://"),
            ("HTTP//vault", "must start with http:// or https://"),
            ("", "must start with http:// or https://"),
            ("http://", "has no host after `http://`"),
            ("https://:8200", "has no host after `https://`"),
            ("https:///v1", "has no host after `https://`"),
            ("http://[::1", "has an IPv6 address without its closing `]`"),
            ("http://::1]:8200", "has a `]` without its opening `[`"),
            ("http://[]:8200", "has `[]`, which is not an IPv6 address"),
            (
                "http://[vault]",
                "has `[vault]`, which is not an IPv6 address",
            ),
            (
                "http://[::1]8200",
                "has `8200` after its IPv6 address; expected `:` and a port, or a path",
            ),
            (
                "https://127.0.0.1:99999",
                "has port 99999, which is not from 1 to 65535",
            ),
            ("http://vault:0", "has port 0, which is not from 1 to 65535"),
            (
                "http://vault:+80",
                "has port +80, which is not from 1 to 65535",
            ),
            (
                "http://vault:http",
                "has port http, which is not from 1 to 65535",
            ),
            (
                "http://::1:8200",
                "has more than one `:` in `::1:8200`; an IPv6 address is written in brackets, as in http://[::1]:8200",
            ),
            ("http://vault:", "has no port after `:`"),
            ("http:// bad host", "contains a space"),
            ("http://vault\t", "contains character U+0009"),
            ("http://vault\u{0}", "contains character U+0000"),
            ("http://vault,x", "has `,` in its host name `vault,x`"),
            (
                "http://999.0.0.1",
                "has the host `999.0.0.1`, which is not an IPv4 address",
            ),
            (
                "http://user:pw@vault",
                "has a user name or password (`…@`); give the server's URL only",
            ),
            (
                "http://vault/?x=1",
                "has a query (`?`) or a fragment (`#`); give the server's URL only",
            ),
            (
                "http://vault#x",
                "has a query (`?`) or a fragment (`#`); give the server's URL only",
            ),
        ] {
            assert_eq!(check_address(address), Err(error.to_owned()), "{address}");
        }
    }
}
