//! staticd as a library: the module tree of the server, so the binary, the tests, the fuzz targets and the
//! benches all build on the same code.
//!
//! Layers, each importing only from the ones before it (docs/architecture.md has the whole tree; the
//! `layering` test enforces the order): `sys` (the kernel) → `http` → `ops` → `shm`, `channel`, `logging` →
//! `config` → `confine` (how a worker-like child confines itself) → `listen` → `probe` (can the workers read the root) → `compress` (the compressor process and
//! its cache format) → `engine` (connections; knows nothing of files) → `site` (what a request means) →
//! `worker` → `master`.

pub mod channel;
pub mod compress;
pub mod config;
pub mod confine;
pub mod engine;
pub mod http;
#[cfg(test)]
mod layering;
pub mod listen;
pub mod logging;
pub mod master;
pub mod ops;
pub mod probe;
#[cfg(test)]
mod proptests;
pub mod shm;
pub mod site;
pub mod sys;
pub mod worker;
