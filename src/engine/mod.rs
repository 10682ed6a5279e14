//! The HTTP/1.1 connection engine: reading, framing, keep-alive, pipelining, half-close, deadlines and the
//! output queue. It knows nothing of files.

pub mod conn;
pub mod output;
