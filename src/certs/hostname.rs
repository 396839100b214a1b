//! Does a certificate name the host the client asked for (the SNI)?
//!
//! RFC 6125 section 6.4 as browsers apply it (CA/Browser Forum Baseline Requirements
//! 7.1.4.2): compare DNS labels case-insensitively, ignore one trailing dot; a wildcard
//! is only a whole left-most label `*` and stands for exactly one non-empty label
//! (`*.example.com` matches `a.example.com`, not `example.com` or `a.b.example.com`);
//! a wildcard needs at least two labels after it (`*.com` matches nothing); partial
//! wildcards (`f*.example.com`, RFC 6125 6.4.3's optional form) are not honoured. The
//! subject CN is consulted only when the certificate has no DNS or IP SAN at all (RFC
//! 6125 6.4.4). An SNI that is an IP literal (not allowed by RFC 6066, but sent) is
//! compared with the IP SANs. Pure functions, no limits needed: inputs are bounded by
//! the certificate size.

use std::net::IpAddr;

/// The names a leaf certificate answers to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CertNames {
    pub dns: Vec<String>,
    pub ips: Vec<IpAddr>,
    pub cn: Option<String>,
}

/// `true` when `host` (an SNI value) is one of the certificate's names.
pub fn host_matches(host: &str, names: &CertNames) -> bool {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return names.ips.contains(&ip);
    }
    if names.dns.is_empty() && names.ips.is_empty() {
        return names.cn.as_deref().is_some_and(|cn| dns_matches(cn, host));
    }
    names.dns.iter().any(|p| dns_matches(p, host))
}

/// `pattern` (a certificate name, maybe `*.` wildcard) against `host`.
pub fn dns_matches(pattern: &str, host: &str) -> bool {
    let pattern = pattern.strip_suffix('.').unwrap_or(pattern);
    let host = host.strip_suffix('.').unwrap_or(host);
    if pattern.is_empty() || host.is_empty() {
        return false;
    }
    match pattern.strip_prefix("*.") {
        Some(rest) => {
            if rest.split('.').count() < 2 || rest.contains('*') {
                return false;
            }
            match host.split_once('.') {
                Some((first, host_rest)) => {
                    !first.is_empty() && host_rest.eq_ignore_ascii_case(rest)
                }
                None => false,
            }
        }
        None => !pattern.contains('*') && pattern.eq_ignore_ascii_case(host),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(dns: &[&str]) -> CertNames {
        CertNames {
            dns: dns.iter().map(|s| s.to_string()).collect(),
            ..CertNames::default()
        }
    }

    #[test]
    fn exact_and_case() {
        assert!(dns_matches("tlstap.test", "TLSTAP.test"));
        assert!(dns_matches("tlstap.test.", "tlstap.test"));
        assert!(!dns_matches("tlstap.test", "www.tlstap.test"));
    }

    #[test]
    fn wildcard_rules() {
        assert!(dns_matches("*.tlstap.test", "a.tlstap.test"));
        assert!(!dns_matches("*.tlstap.test", "tlstap.test"));
        assert!(!dns_matches("*.tlstap.test", "a.b.tlstap.test"));
        assert!(!dns_matches("*.com", "example.com"));
        assert!(!dns_matches("f*.example.com", "foo.example.com"));
        assert!(!dns_matches("a.*.example.com", "a.b.example.com"));
        assert!(!dns_matches("*.*.example.com", "a.b.example.com"));
    }

    #[test]
    fn cn_only_without_sans_and_ip() {
        let mut n = CertNames {
            cn: Some("host.example".into()),
            ..CertNames::default()
        };
        assert!(host_matches("host.example", &n));
        n.dns.push("other.example".into());
        assert!(
            !host_matches("host.example", &n),
            "CN ignored when SANs exist"
        );
        n.ips.push("192.0.2.1".parse().expect("ip"));
        assert!(host_matches("192.0.2.1", &n));
        assert!(!host_matches("192.0.2.2", &names(&["192.0.2.2"])));
    }
}
