//! Access-log lines written when a response has left, not when it was queued: with the bytes that really
//! went out and the time from the request's first byte to the response's last. A download cut short is
//! logged with fewer bytes than its Content-Length, and a slow one with its real duration.
//!
//! Each answered request leaves a pending line that knows where its response sits in the connection's output
//! stream (`Output::queued_total` before and after it was queued). After every flush the lines whose
//! responses have been sent whole are written, in request order; when the connection goes away, the rest are
//! written with what of their responses did leave.

use std::borrow::Cow;
use std::collections::VecDeque;
use std::net::IpAddr;
use std::time::Instant;

use crate::ops::access_log::Record;
use crate::ops::log_file::AccessLog;

/// The fields of one line, owned: the request they came from is gone by the time the response has left.
pub struct PendingLine {
    pub client: Option<IpAddr>,
    pub method: Cow<'static, str>,
    pub target: String,
    pub version: &'static str,
    pub status: u16,
    pub referer: Option<String>,
    pub user_agent: Option<String>,
    /// Bytes of the request's body received (decoded, for a chunked one), when it had a body.
    pub received: Option<u64>,
    /// When the request's first byte arrived.
    pub started: Instant,
    /// The response is bytes `start..end` of the connection's output stream.
    pub start: u64,
    pub end: u64,
}

/// What a line is written with: the log, the clock, the worker.
pub struct LineContext<'a> {
    pub log: &'a mut AccessLog,
    pub now: Instant,
    pub unix_now: i64,
    pub worker: usize,
}

#[derive(Default)]
pub struct PendingLog {
    lines: VecDeque<PendingLine>,
}

impl PendingLog {
    pub fn push(&mut self, line: PendingLine) {
        self.lines.push_back(line);
    }

    /// Writes the lines of every response whose last byte is among the first `sent_total` bytes sent.
    pub fn sent_up_to(&mut self, sent_total: u64, cx: &mut LineContext<'_>) {
        while self.lines.front().is_some_and(|l| l.end <= sent_total) {
            if let Some(line) = self.lines.pop_front() {
                write(&line, line.end - line.start, cx);
            }
        }
    }

    /// The connection is going away: every line left is written with the bytes of its response that left.
    pub fn abandon(&mut self, sent_total: u64, cx: &mut LineContext<'_>) {
        while let Some(line) = self.lines.pop_front() {
            let sent = sent_total.clamp(line.start, line.end) - line.start;
            write(&line, sent, cx);
        }
    }
}

fn write(line: &PendingLine, bytes: u64, cx: &mut LineContext<'_>) {
    let record = Record {
        client: line.client,
        time_unix: cx.unix_now,
        method: &line.method,
        target: &line.target,
        version: line.version,
        status: line.status,
        bytes,
        duration_us: cx.now.saturating_duration_since(line.started).as_micros() as u64,
        referer: line.referer.as_deref(),
        user_agent: line.user_agent.as_deref(),
        received: line.received,
        worker: cx.worker,
    };
    cx.log.record(&record);
}
