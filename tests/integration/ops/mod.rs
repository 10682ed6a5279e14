//! How staticd is operated in a deployment: listeners for proxies and service managers, access logs,
//! reverse-proxy awareness, deploying a new root, reload and graceful stop, and the status page.

mod deploy;
mod listeners;
mod logs;
mod proxy;
mod reload;
mod status;
