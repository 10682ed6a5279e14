//! Building blocks for operating staticd in production: access-log lines, PROXY protocol
//! headers, client addresses behind trusted proxies, Prometheus metrics and systemd integration.
//!
//! Each module is pure or nearly so, and unit-tested on its own; the server wires them in.

pub mod access_log;
pub mod forwarded;
pub mod log_file;
pub mod metrics;
pub mod proxy_protocol;
pub mod systemd;
