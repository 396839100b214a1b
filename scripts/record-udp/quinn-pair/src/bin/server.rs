//! quinn-pair server: `server LISTEN_ADDR CERT_DER_OUT [ALPN] [SNI_NAME]`
//! Generates a throwaway self-signed certificate for SNI_NAME (rcgen), writes
//! its DER to CERT_DER_OUT (the client trusts exactly that), accepts one
//! connection, echoes one bidirectional stream, and exits when the client
//! closes the connection.
use std::{net::SocketAddr, sync::Arc};

use quinn::crypto::rustls::QuicServerConfig;
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let listen: SocketAddr = args.get(1).map(String::as_str).unwrap_or("127.0.0.1:4433").parse()?;
    let cert_out = args.get(2).cloned().unwrap_or_else(|| "quinn-cert.der".into());
    let alpn = args.get(3).cloned().unwrap_or_else(|| "tlstap-echo".into());
    let name = args.get(4).cloned().unwrap_or_else(|| "quinn.test".into());

    quinn_pair::install_provider();
    let ck = rcgen::generate_simple_self_signed(vec![name])?;
    let cert_der = ck.cert.der().clone();
    std::fs::write(&cert_out, cert_der.as_ref())?;
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(ck.signing_key.serialize_der()));

    let mut tls = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(vec![cert_der], key)?;
    tls.alpn_protocols = vec![alpn.into_bytes()];
    let mut cfg = quinn::ServerConfig::with_crypto(Arc::new(QuicServerConfig::try_from(tls)?));
    cfg.transport_config(quinn_pair::transport());

    let endpoint = quinn::Endpoint::server(cfg, listen)?;
    eprintln!("quinn server listening on {listen}");
    let incoming = endpoint.accept().await.ok_or("endpoint closed")?;
    let conn = incoming.await?;
    eprintln!("connection from {}", conn.remote_address());
    if let Ok((mut send, mut recv)) = conn.accept_bi().await {
        let data = recv.read_to_end(4096).await?;
        eprintln!("server got {:?}", String::from_utf8_lossy(&data));
        send.write_all(&data).await?;
        send.finish()?;
    }
    let reason = conn.closed().await;
    eprintln!("connection closed: {reason}");
    endpoint.wait_idle().await;
    Ok(())
}
