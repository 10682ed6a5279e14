//! From a request-target to an open file: path resolution, opening beneath the root, content types and
//! content-coding negotiation.

pub mod cache;
pub mod encoding;
pub mod mime;
pub mod open;
pub mod resolve;
