//! Diagnostics on stderr through `log`/env_logger: one line per message, naming the process that wrote it.
//!
//! `RUST_LOG` sets the level (default `info`). Every line starts with `staticd[master]`, `staticd[wN]` or `staticd[zip]` so
//! interleaved output from several processes stays readable.

use std::io::Write;
use std::sync::atomic::{AtomicI64, Ordering::Relaxed};

/// -1 in the master, the worker index in a worker, [`COMPRESSOR`] in the compressor (set right after fork).
static WORKER: AtomicI64 = AtomicI64::new(-1);
const COMPRESSOR: i64 = -2;

pub fn init() {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info"))
        .format(|buf, record| {
            let who = WORKER.load(Relaxed);
            let level = record.level().as_str().to_ascii_lowercase();
            if who == COMPRESSOR {
                writeln!(buf, "staticd[zip]: {level}: {}", record.args())
            } else if who < 0 {
                writeln!(buf, "staticd[master]: {level}: {}", record.args())
            } else {
                writeln!(buf, "staticd[w{who}]: {level}: {}", record.args())
            }
        })
        .init();
}

pub fn set_worker(index: usize) {
    WORKER.store(index as i64, Relaxed);
}

/// Names the compressor process in its lines (`staticd[zip]`).
pub fn set_compressor() {
    WORKER.store(COMPRESSOR, Relaxed);
}
