//! What a request means: path resolution, opening beneath the root, the open-file cache, directories,
//! content types, content-coding negotiation and the status page.

pub mod cache;
pub mod encoding;
pub mod files;
pub mod mime;
pub mod open;
pub mod resolve;
pub mod status;
