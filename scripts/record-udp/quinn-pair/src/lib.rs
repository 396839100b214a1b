//! Shared bits of the quinn-pair client and server.
use std::{sync::Arc, time::Duration};

/// Installs the process-wide rustls crypto provider: aws-lc-rs (post-quantum
/// X25519MLKEM768 preferred) with `--features pq`, else ring.
pub fn install_provider() {
    #[cfg(feature = "pq")]
    let provider = rustls::crypto::aws_lc_rs::default_provider();
    // ring's provider is deprecated only because it has no post-quantum groups,
    // which is exactly the classic X25519 ClientHello we want here.
    #[cfg(not(feature = "pq"))]
    #[allow(deprecated)]
    let provider = rustls::crypto::ring::default_provider();
    let _ = provider.install_default();
}

/// Transport settings for both ends: short idle timeout, no path-MTU probing
/// (it would add several large padded packets to the capture), and no UDP
/// segmentation offload (GSO): on `lo`, tcpdump sees a GSO send before it is
/// split, i.e. one 2400-byte "datagram" where the wire would carry two.
pub fn transport() -> Arc<quinn::TransportConfig> {
    let mut t = quinn::TransportConfig::default();
    t.max_idle_timeout(Some(Duration::from_secs(5).try_into().unwrap()));
    t.mtu_discovery_config(None);
    t.enable_segmentation_offload(false);
    Arc::new(t)
}
