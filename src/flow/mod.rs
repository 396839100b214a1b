//! Connections: the flow table, per-direction TCP reassembly, and the owned records
//! handed from the capture thread to the parser pool.

pub mod community_id;
pub mod reassembly;
pub mod stream;
pub mod table;
