//! Prometheus text exposition (format 0.0.4) of the per-worker counters kept in shared memory.
//!
//! Served at `--status-path` so operators can scrape staticd like any other service. Series are labelled
//! by shared-memory slot rather than pid: a worker replaced after a crash keeps its slot (and its counters),
//! so dashboards keep one series per worker; a reload moves workers to free slots, and Prometheus' `rate()`
//! copes with series that start and stop.

use std::fmt::Write as _;

/// A snapshot of one worker's counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WorkerStats {
    pub index: usize,
    pub pid: i32,
    pub live: u64,
    pub accepted: u64,
    pub requests: u64,
    pub bytes_sent: u64,
    /// Responses by status class: 1xx..5xx.
    pub status: [u64; 5],
    pub log_dropped_lines: u64,
}

/// The `Content-Type` to serve the rendered text with.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Families (with # HELP and # TYPE): staticd_connections_live (gauge, label worker), staticd_connections_accepted_total,
/// staticd_requests_total, staticd_bytes_sent_total, staticd_responses_total (labels worker, class="2xx"…),
/// staticd_access_log_dropped_lines_total, staticd_uptime_seconds (gauge), staticd_workers (gauge),
/// staticd_compressions_total (the compressor's finished requests).
pub fn render(out: &mut String, workers: &[WorkerStats], uptime_secs: u64, compressions: u64) {
    per_worker(out, "staticd_connections_live", "gauge", "Connections currently open.", workers, |w| w.live);
    per_worker(
        out,
        "staticd_connections_accepted_total",
        "counter",
        "Connections received from the master: accepted, or carried over from a reloaded worker.",
        workers,
        |w| w.accepted,
    );
    per_worker(out, "staticd_requests_total", "counter", "Requests answered.", workers, |w| w.requests);
    per_worker(out, "staticd_bytes_sent_total", "counter", "Bytes sent to clients, headers included.", workers, |w| {
        w.bytes_sent
    });
    header(out, "staticd_responses_total", "counter", "Responses by status class.");
    for w in workers {
        for (class, count) in (1..).zip(w.status) {
            // Writing to a String cannot fail.
            let _ = writeln!(out, "staticd_responses_total{{worker=\"{}\",class=\"{class}xx\"}} {count}", w.index);
        }
    }
    per_worker(
        out,
        "staticd_access_log_dropped_lines_total",
        "counter",
        "Access-log lines not written whole (disk full).",
        workers,
        |w| w.log_dropped_lines,
    );
    header(out, "staticd_uptime_seconds", "gauge", "Seconds since the master process started.");
    let _ = writeln!(out, "staticd_uptime_seconds {uptime_secs}");
    header(out, "staticd_workers", "gauge", "Worker processes currently running.");
    let _ = writeln!(out, "staticd_workers {}", workers.len());
    header(
        out,
        "staticd_compressions_total",
        "counter",
        "Compression requests the compressor finished: an entry written (or found not to pay), or found in the cache.",
    );
    let _ = writeln!(out, "staticd_compressions_total {compressions}");
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

fn per_worker(
    out: &mut String,
    name: &str,
    kind: &str,
    help: &str,
    workers: &[WorkerStats],
    value: impl Fn(&WorkerStats) -> u64,
) {
    header(out, name, kind, help);
    for w in workers {
        let _ = writeln!(out, "{name}{{worker=\"{}\"}} {}", w.index, value(w));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_two_workers_exactly() {
        let workers = [
            WorkerStats {
                index: 0,
                pid: 100,
                live: 2,
                accepted: 10,
                requests: 25,
                bytes_sent: 4096,
                status: [0, 20, 3, 2, 0],
                log_dropped_lines: 0,
            },
            WorkerStats {
                index: 1,
                pid: 101,
                live: 0,
                accepted: 1,
                requests: 1,
                bytes_sent: 100,
                status: [0, 0, 0, 0, 1],
                log_dropped_lines: 7,
            },
        ];
        let mut out = String::new();
        render(&mut out, &workers, 3600, 5);
        let want = "\
# HELP staticd_connections_live Connections currently open.
# TYPE staticd_connections_live gauge
staticd_connections_live{worker=\"0\"} 2
staticd_connections_live{worker=\"1\"} 0
# HELP staticd_connections_accepted_total Connections received from the master: accepted, or carried over from a reloaded worker.
# TYPE staticd_connections_accepted_total counter
staticd_connections_accepted_total{worker=\"0\"} 10
staticd_connections_accepted_total{worker=\"1\"} 1
# HELP staticd_requests_total Requests answered.
# TYPE staticd_requests_total counter
staticd_requests_total{worker=\"0\"} 25
staticd_requests_total{worker=\"1\"} 1
# HELP staticd_bytes_sent_total Bytes sent to clients, headers included.
# TYPE staticd_bytes_sent_total counter
staticd_bytes_sent_total{worker=\"0\"} 4096
staticd_bytes_sent_total{worker=\"1\"} 100
# HELP staticd_responses_total Responses by status class.
# TYPE staticd_responses_total counter
staticd_responses_total{worker=\"0\",class=\"1xx\"} 0
staticd_responses_total{worker=\"0\",class=\"2xx\"} 20
staticd_responses_total{worker=\"0\",class=\"3xx\"} 3
staticd_responses_total{worker=\"0\",class=\"4xx\"} 2
staticd_responses_total{worker=\"0\",class=\"5xx\"} 0
staticd_responses_total{worker=\"1\",class=\"1xx\"} 0
staticd_responses_total{worker=\"1\",class=\"2xx\"} 0
staticd_responses_total{worker=\"1\",class=\"3xx\"} 0
staticd_responses_total{worker=\"1\",class=\"4xx\"} 0
staticd_responses_total{worker=\"1\",class=\"5xx\"} 1
# HELP staticd_access_log_dropped_lines_total Access-log lines not written whole (disk full).
# TYPE staticd_access_log_dropped_lines_total counter
staticd_access_log_dropped_lines_total{worker=\"0\"} 0
staticd_access_log_dropped_lines_total{worker=\"1\"} 7
# HELP staticd_uptime_seconds Seconds since the master process started.
# TYPE staticd_uptime_seconds gauge
staticd_uptime_seconds 3600
# HELP staticd_workers Worker processes currently running.
# TYPE staticd_workers gauge
staticd_workers 2
# HELP staticd_compressions_total Compression requests the compressor finished: an entry written (or found not to pay), or found in the cache.
# TYPE staticd_compressions_total counter
staticd_compressions_total 5
";
        assert_eq!(out, want);
    }

    #[test]
    fn no_workers_still_declares_every_family() {
        let mut out = String::new();
        render(&mut out, &[], 0, 0);
        let types = out.lines().filter(|l| l.starts_with("# TYPE ")).count();
        let helps = out.lines().filter(|l| l.starts_with("# HELP ")).count();
        assert_eq!((types, helps), (9, 9));
        assert!(out.contains("staticd_workers 0\n"));
        assert!(out.ends_with("staticd_compressions_total 0\n"));
        assert!(out.contains("staticd_uptime_seconds 0\n"));
    }

    #[test]
    fn every_sample_line_is_well_formed() {
        let workers: Vec<WorkerStats> = (0..4)
            .map(|i| WorkerStats {
                index: i,
                pid: 1000 + i32::try_from(i).unwrap(),
                live: u64::MAX,
                status: [u64::MAX; 5],
                ..WorkerStats::default()
            })
            .collect();
        let mut out = String::new();
        render(&mut out, &workers, u64::MAX, u64::MAX);
        assert!(out.ends_with('\n'));
        for l in out.lines().filter(|l| !l.starts_with('#')) {
            let (series, value) = l.rsplit_once(' ').unwrap();
            assert!(value.parse::<u64>().is_ok(), "{l}");
            let name_end = series.find('{').unwrap_or(series.len());
            let name = &series[..name_end];
            assert!(name.starts_with("staticd_"), "{l}");
            assert!(out.contains(&format!("# TYPE {name} ")), "family declared: {l}");
        }
        // 5 one-label families × 4 workers + 5 classes × 4 workers + uptime + workers + compressions.
        assert_eq!(out.lines().filter(|l| !l.starts_with('#')).count(), 20 + 20 + 3);
    }
}
