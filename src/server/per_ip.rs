//! Connections per source address: one host cannot take every slot, except trusted networks (CIDR blocks).

use std::collections::HashMap;
use std::net::IpAddr;
use std::str::FromStr;

/// The default cap on connections from one address.
pub(crate) const DEFAULT_MAX_PER_IP: u32 = 16;
/// Networks exempt from the cap unless `--trusted` is given: this machine, so local tools and benchmarks work.
pub(crate) const DEFAULT_TRUSTED: [&str; 2] = ["127.0.0.1/32", "::1/128"];

/// An address block such as `10.0.0.0/8` or `::1/128`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl Cidr {
    pub(crate) fn contains(&self, ip: IpAddr) -> bool {
        match (self.network, ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => prefix_matches(&net.octets(), &ip.octets(), self.prefix),
            (IpAddr::V6(net), IpAddr::V6(ip)) => prefix_matches(&net.octets(), &ip.octets(), self.prefix),
            _ => false,
        }
    }
}

fn prefix_matches(net: &[u8], ip: &[u8], prefix: u8) -> bool {
    let full = usize::from(prefix / 8);
    let rest = prefix % 8;
    if net[..full] != ip[..full] {
        return false;
    }
    rest == 0 || (net[full] ^ ip[full]) & (0xffu8 << (8 - rest)) == 0
}

impl FromStr for Cidr {
    type Err = String;

    /// `ADDR/PREFIX`, or a bare address meaning that one host.
    fn from_str(s: &str) -> Result<Cidr, String> {
        let (addr, prefix) = match s.split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (s, None),
        };
        let network: IpAddr = addr.parse().map_err(|_| format!("{s:?} is not an address block like 10.0.0.0/8"))?;
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => match p.parse::<u8>() {
                Ok(p) if p <= max => p,
                _ => return Err(format!("{s:?}: the prefix length must be 0 to {max}")),
            },
        };
        Ok(Cidr { network: network.to_canonical(), prefix })
    }
}

/// Counts open connections per address and decides whether one more is allowed.
#[derive(Debug)]
pub(crate) struct PerIpLimit {
    /// 0 turns the cap off.
    max_per_ip: u32,
    trusted: Vec<Cidr>,
    open: HashMap<IpAddr, u32>,
}

impl PerIpLimit {
    pub(crate) fn new(max_per_ip: u32, trusted: Vec<Cidr>) -> PerIpLimit {
        PerIpLimit { max_per_ip, trusted, open: HashMap::new() }
    }

    /// Counts a new connection from `ip` if it is within the cap; returns whether it may stay.
    pub(crate) fn try_admit(&mut self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        if self.max_per_ip == 0 || self.trusted.iter().any(|net| net.contains(ip)) {
            return true;
        }
        let count = self.open.entry(ip).or_insert(0);
        if *count >= self.max_per_ip {
            return false;
        }
        *count += 1;
        true
    }

    /// A connection admitted by [`PerIpLimit::try_admit`] has closed.
    pub(crate) fn release(&mut self, ip: IpAddr) {
        let ip = ip.to_canonical();
        if let Some(count) = self.open.get_mut(&ip) {
            *count -= 1;
            if *count == 0 {
                self.open.remove(&ip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cidr(s: &str) -> Cidr {
        s.parse().expect("valid CIDR")
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("valid address")
    }

    #[test]
    fn blocks_contain_their_addresses() {
        assert!(cidr("10.0.0.0/8").contains(ip("10.200.3.4")));
        assert!(!cidr("10.0.0.0/8").contains(ip("11.0.0.1")));
        assert!(cidr("192.168.1.128/25").contains(ip("192.168.1.200")));
        assert!(!cidr("192.168.1.128/25").contains(ip("192.168.1.100")));
        assert!(cidr("127.0.0.1").contains(ip("127.0.0.1")));
        assert!(!cidr("127.0.0.1/32").contains(ip("127.0.0.2")));
        assert!(cidr("::1/128").contains(ip("::1")));
        assert!(cidr("0.0.0.0/0").contains(ip("8.8.8.8")));
        // IPv4 clients of a dual-stack socket arrive as mapped IPv6 addresses.
        assert!(cidr("127.0.0.1/32").contains(ip("::ffff:127.0.0.1")));
        assert!(!cidr("::1/128").contains(ip("127.0.0.1")));
    }

    #[test]
    fn bad_blocks_are_refused() {
        assert!("10.0.0.0/33".parse::<Cidr>().is_err());
        assert!("::/129".parse::<Cidr>().is_err());
        assert!("localhost/8".parse::<Cidr>().is_err());
    }

    #[test]
    fn caps_untrusted_addresses_only() {
        let mut limit = PerIpLimit::new(2, vec![cidr("127.0.0.1/32")]);
        assert!(limit.try_admit(ip("127.0.0.2")));
        assert!(limit.try_admit(ip("127.0.0.2")));
        assert!(!limit.try_admit(ip("127.0.0.2")));
        assert!(limit.try_admit(ip("127.0.0.3")));
        assert!((0..100).all(|_| limit.try_admit(ip("127.0.0.1"))));
        limit.release(ip("127.0.0.2"));
        assert!(limit.try_admit(ip("127.0.0.2")));
    }

    #[test]
    fn zero_turns_the_cap_off() {
        let mut limit = PerIpLimit::new(0, vec![]);
        assert!((0..100).all(|_| limit.try_admit(ip("10.0.0.1"))));
    }
}
