//! The integration tests: one binary that drives the real `staticd` binary as a user would (a real process,
//! real sockets), one module per area. One binary links once, and its tests share the machine the way a
//! test harness with one thread pool shares it, so every test judges only its own server.

mod support;

mod bodies;
mod cache;
mod cache_limits;
mod clients;
mod compress_startup;
mod compression;
mod conditional;
mod config_file;
mod crashes;
mod files;
mod floods;
mod halfclose;
mod hostile;
mod http;
mod keepalive;
mod largefile;
mod listings;
mod mime;
mod ops;
mod pages;
mod precompressed;
mod processes;
mod ranges;
mod rules;
mod site;
mod slow;
mod startup;
mod symlinks;
mod teardown;
mod timeouts;
mod write;
mod write_startup;
