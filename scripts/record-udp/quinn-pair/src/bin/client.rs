//! quinn-pair client: `client SERVER_ADDR CERT_DER SNI [ALPN]`
//! Connects with SNI and one ALPN, trusting only the certificate in CERT_DER,
//! sends one line on a bidirectional stream, reads the echo, closes (code 0).
use std::{net::SocketAddr, sync::Arc};

use quinn::crypto::rustls::QuicClientConfig;
use rustls::pki_types::CertificateDer;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let server: SocketAddr = args.get(1).map(String::as_str).unwrap_or("127.0.0.1:4433").parse()?;
    let cert = std::fs::read(args.get(2).map(String::as_str).unwrap_or("quinn-cert.der"))?;
    let sni = args.get(3).cloned().unwrap_or_else(|| "quinn.test".into());
    let alpn = args.get(4).cloned().unwrap_or_else(|| "tlstap-echo".into());

    quinn_pair::install_provider();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(CertificateDer::from(cert))?;
    let mut tls = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    tls.alpn_protocols = vec![alpn.into_bytes()];
    let mut cfg = quinn::ClientConfig::new(Arc::new(QuicClientConfig::try_from(tls)?));
    cfg.transport_config(quinn_pair::transport());

    let bind: SocketAddr = if server.is_ipv6() { "[::1]:0" } else { "127.0.0.1:0" }.parse()?;
    let mut endpoint = quinn::Endpoint::client(bind)?;
    endpoint.set_default_client_config(cfg);
    let conn = endpoint.connect(server, &sni)?.await?;
    eprintln!("connected, ALPN {:?}", conn.handshake_data()
        .and_then(|h| h.downcast::<quinn::crypto::rustls::HandshakeData>().ok())
        .and_then(|h| h.protocol).map(|p| String::from_utf8_lossy(&p).into_owned()));
    let (mut send, mut recv) = conn.open_bi().await?;
    send.write_all(b"hello from quinn client\n").await?;
    send.finish()?;
    let echo = recv.read_to_end(4096).await?;
    eprintln!("client got {:?}", String::from_utf8_lossy(&echo));
    conn.close(0u32.into(), b"done");
    endpoint.wait_idle().await;
    Ok(())
}
