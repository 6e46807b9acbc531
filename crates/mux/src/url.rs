//! Endpoint URLs for [`crate::Mux::connect`] and [`crate::Mux::listen`]: `tcp://host:port`,
//! `udp://host:port`, `unix://path`, `unix_dgram://path`.
//!
//! Hosts may be IPv4 literals, IPv6 literals in brackets (`tcp://[::1]:80`) or names.
//! Names are resolved with the system resolver (`getaddrinfo` through std), which
//! **blocks** the calling thread; it happens before the socket exists, so nothing in a
//! [`crate::Mux`] waits on it, but the caller does. The first address returned is used.

use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;

/// Longest unix socket path the kernel accepts: `sun_path` is 108 bytes, one of which
/// is the terminating NUL.
pub const UNIX_PATH_MAX: usize = 107;

/// A parsed endpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Endpoint {
    /// A TCP address (resolved).
    Tcp(SocketAddr),
    /// A UDP address (resolved).
    Udp(SocketAddr),
    /// A unix stream socket path.
    Unix(PathBuf),
    /// A unix datagram socket path.
    UnixDgram(PathBuf),
}

impl Endpoint {
    /// Parses `url`, resolving a host name if there is one (blocking).
    ///
    /// # Errors
    /// `InvalidInput` for an unknown scheme, a missing or bad port, an empty or
    /// too-long unix path ([`UNIX_PATH_MAX`]); the resolver's error for a name that
    /// does not resolve.
    pub fn parse(url: &str) -> io::Result<Self> {
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| invalid(format!("{url:?}: expected SCHEME://ADDRESS")))?;
        match scheme {
            "tcp" => Ok(Self::Tcp(resolve(rest)?)),
            "udp" => Ok(Self::Udp(resolve(rest)?)),
            "unix" => Ok(Self::Unix(unix_path(rest)?)),
            "unix_dgram" => Ok(Self::UnixDgram(unix_path(rest)?)),
            other => Err(invalid(format!(
                "unknown scheme {other:?} (tcp, udp, unix, unix_dgram)"
            ))),
        }
    }
}

fn invalid(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg)
}

/// `host:port` or `[v6]:port` to one socket address.
fn resolve(host_port: &str) -> io::Result<SocketAddr> {
    let (host, port) = host_port
        .rsplit_once(':')
        .ok_or_else(|| invalid(format!("{host_port:?}: expected HOST:PORT")))?;
    let port: u16 = port
        .parse()
        .map_err(|_| invalid(format!("{host_port:?}: bad port {port:?}")))?;
    let host = match host.strip_prefix('[') {
        Some(inner) => inner
            .strip_suffix(']')
            .ok_or_else(|| invalid(format!("{host_port:?}: unclosed '['")))?,
        None if host.contains(':') => {
            return Err(invalid(format!(
                "{host_port:?}: IPv6 addresses go in brackets, [::1]:PORT"
            )));
        }
        None => host,
    };
    if host.is_empty() {
        return Err(invalid(format!("{host_port:?}: empty host")));
    }
    if let Ok(ip) = host.parse::<std::net::IpAddr>() {
        return Ok(SocketAddr::new(ip, port));
    }
    (host, port)
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| invalid(format!("{host:?} resolved to no address")))
}

fn unix_path(path: &str) -> io::Result<PathBuf> {
    if path.is_empty() {
        return Err(invalid("empty unix socket path".to_owned()));
    }
    if path.len() > UNIX_PATH_MAX {
        return Err(invalid(format!(
            "unix socket path is {} bytes; the kernel allows at most {UNIX_PATH_MAX}",
            path.len()
        )));
    }
    if path.contains('\0') {
        return Err(invalid("unix socket path contains a NUL byte".to_owned()));
    }
    Ok(PathBuf::from(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_each_scheme() {
        assert_eq!(
            Endpoint::parse("tcp://127.0.0.1:80").unwrap(),
            Endpoint::Tcp("127.0.0.1:80".parse().unwrap())
        );
        assert_eq!(
            Endpoint::parse("udp://[::1]:53").unwrap(),
            Endpoint::Udp("[::1]:53".parse().unwrap())
        );
        assert_eq!(
            Endpoint::parse("unix:///tmp/x.sock").unwrap(),
            Endpoint::Unix("/tmp/x.sock".into())
        );
        assert_eq!(
            Endpoint::parse("unix_dgram://rel.sock").unwrap(),
            Endpoint::UnixDgram("rel.sock".into())
        );
    }

    #[test]
    fn resolves_localhost() {
        match Endpoint::parse("tcp://localhost:7").unwrap() {
            Endpoint::Tcp(addr) => {
                assert!(addr.ip().is_loopback());
                assert_eq!(addr.port(), 7);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn rejects_bad_urls_clearly() {
        for url in [
            "127.0.0.1:80",
            "sctp://1.2.3.4:5",
            "tcp://1.2.3.4",
            "tcp://1.2.3.4:99999",
            "tcp://::1:80",
            "tcp://[::1:80",
            "tcp://:80",
            "unix://",
        ] {
            let err = Endpoint::parse(url).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{url}: {err}");
        }
        let long = format!("unix:///{}", "x".repeat(UNIX_PATH_MAX));
        let err = Endpoint::parse(&long).unwrap_err();
        assert!(err.to_string().contains("at most 107"), "{err}");
    }
}
