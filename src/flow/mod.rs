//! Connections: the flow tables (TCP with per-direction reassembly, UDP for QUIC and
//! DTLS), and the owned records handed from the capture thread to the parser pool.

pub mod community_id;
pub mod reassembly;
pub mod record;
mod slots;
pub mod start;
pub mod stream;
pub mod table;
pub mod udp;
