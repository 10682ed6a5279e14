//! Lines a child process writes to a pipe (stderr, or stdout for access-log tests), drained by a background
//! thread so that a chatty child never blocks on a full pipe (which would look like a hung server).

use std::io::{BufRead, BufReader, Read};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread;
use std::time::Duration;

use super::wait::wait_until;

/// The lines read so far, shared with the draining thread.
#[derive(Clone, Default)]
pub struct Lines {
    captured: Arc<Mutex<Captured>>,
}

#[derive(Default)]
struct Captured {
    lines: Vec<String>,
    /// The pipe reached EOF: the writer and everything that inherited the pipe are gone.
    closed: bool,
}

impl Lines {
    /// Starts draining `pipe`; `label` tags the lines echoed when `STATICD_TEST_ECHO` is set.
    pub fn drain(pipe: impl Read + Send + 'static, label: &str) -> Lines {
        let lines = Lines::default();
        let sink = lines.clone();
        let echo = std::env::var_os("STATICD_TEST_ECHO").is_some().then(|| label.to_string());
        thread::spawn(move || {
            let mut reader = BufReader::new(pipe);
            let mut raw = Vec::new();
            loop {
                raw.clear();
                match reader.read_until(b'\n', &mut raw) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {
                        let line = String::from_utf8_lossy(&raw).trim_end().to_string();
                        if let Some(label) = &echo {
                            eprintln!("[{label}] {line}");
                        }
                        sink.lock().lines.push(line);
                    }
                }
            }
            sink.lock().closed = true;
        });
        lines
    }

    fn lock(&self) -> MutexGuard<'_, Captured> {
        // A panicking reader thread cannot leave the lines half-written, so a poisoned lock is still usable.
        self.captured.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn snapshot(&self) -> Vec<String> {
        self.lock().lines.clone()
    }

    /// Everything so far, one line per line: for failure messages.
    pub fn text(&self) -> String {
        self.lock().lines.join("\n")
    }

    /// How many lines so far satisfy `pred`.
    pub fn count(&self, pred: impl Fn(&str) -> bool) -> usize {
        self.lock().lines.iter().filter(|l| pred(l)).count()
    }

    /// The first line satisfying `pred`, waiting up to `timeout` for it to arrive.
    pub fn wait_for(&self, pred: impl Fn(&str) -> bool, timeout: Duration) -> Option<String> {
        let mut found = None;
        wait_until(timeout, || {
            found = self.lock().lines.iter().find(|l| pred(l)).cloned();
            found.is_some()
        });
        found
    }

    /// Waits for EOF on the pipe.
    pub fn wait_closed(&self, timeout: Duration) -> bool {
        wait_until(timeout, || self.lock().closed)
    }
}
