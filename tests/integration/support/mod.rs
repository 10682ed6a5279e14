//! The harness every integration test uses: it runs the real `staticd` binary on ephemeral ports, builds
//! throw-away document roots, speaks raw HTTP/1.1, and reads what the kernel says about processes and
//! sockets, never leaving a process, port or file behind, even when a test panics.
//!
//! One submodule per concern; everything is re-exported here so that a test file needs one `use`.

mod accesslog;
mod client;
mod date;
mod json;
mod limits;
mod load;
mod multipart;
mod pipe;
mod process;
mod procfs;
mod proxy;
mod response;
mod server;
mod site;
mod skip;
mod sockets;
mod tmpfs;
mod upload;
mod users;
mod wait;

pub use accesslog::*;
pub use client::*;
pub use date::*;
pub use limits::*;
pub use load::*;
pub use multipart::*;
pub use pipe::*;
pub use process::*;
pub use procfs::*;
pub use proxy::*;
pub use response::*;
pub use server::*;
pub use site::*;
pub use skip::*;
pub use sockets::*;
pub use tmpfs::*;
pub use upload::*;
pub use users::*;
pub use wait::*;
