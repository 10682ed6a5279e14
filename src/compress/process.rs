//! The compressor process: forked by the master, confined like a worker, it reads compression requests from
//! the workers' shared packet pipe and turns each into one cache entry, on a few niced threads.
//!
//! The main thread only reads the pipe (one read, one request) and queues jobs, at normal priority (only the
//! compression threads are niced, each setting its own nice value); it never compresses, so a burst of
//! requests costs the workers nothing (their writes never block: the pipe is non-blocking on their side and a
//! full pipe just drops a request, asked again later). The queue is bounded and deduplicated: a
//! version already queued or being compressed is not queued again, and one already in the cache only bumps
//! the shared counter so the workers waiting for it look again.
//!
//! A job compresses exactly the version the worker saw: the file is opened beneath the root and its stamp
//! (device, inode, size, mtime, ctime) must match the request's before reading and again after, or the job is
//! dropped (the worker asks again for the version it sees next); so is a version whose ctime is less than a
//! second old when it is read, which two writes within one clock tick could still change unseen. Threads are
//! plain std threads: this process never forks, so none of the fork-safety concerns that keep workers
//! single-threaded apply.

use std::collections::{HashMap, HashSet, VecDeque};
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::compress::entry;
use crate::compress::store::{self, PutError, Store};
use crate::compress::{codecs, request};
use crate::config::{Compression, Config};
use crate::shm::Shm;
use crate::sys::{self, FileStamp};

/// Jobs waiting for a thread; requests beyond this are dropped (a worker asks again on a later request).
pub const QUEUE: usize = 1024;
/// A version the cache refused is not tried again for this long.
const RETRY_AFTER: Duration = Duration::from_secs(60);
/// After the cache's file system said it is full, over quota or read-only, nothing is compressed for this
/// long: jobs taken off the queue meanwhile are dropped (their workers ask again later).
const PAUSE: Duration = Duration::from_secs(60);
/// At most this many refused versions are remembered (beyond, the list starts over).
const REFUSED_MAX: usize = 4096;
/// A version whose ctime is less than this before the wall clock when it is read is read only once it is
/// this old (see [`settle_wait`]).
const SETTLE: Duration = Duration::from_secs(1);
/// The info summary is written at most this often, and only when something happened.
const SUMMARY_EVERY: Duration = Duration::from_secs(10);
/// The compression threads' nice value, set by each thread for itself (on Linux nice is per thread): the main
/// thread, which only reads the request pipe, stays at the workers' nice 0, so the pipe keeps draining while
/// every compression thread is busy and the workers' requests are not dropped for a full pipe. Under CFS a
/// nice-10 thread competing with nice-0 ones gets about a tenth of a core's time (weights 110 vs 1024), so
/// compression never takes a busy server's CPU from serving, yet it always makes progress. SCHED_IDLE would
/// be gentler still but could starve forever under sustained load, and a file never compressed is served
/// uncompressed forever.
const NICE: i32 = 10;

pub struct CompressorArgs {
    pub cfg: Config,
    /// The cache directory, opened by the master before any chroot.
    pub cache_dir: OwnedFd,
    /// The read end of the request pipe.
    pub requests: OwnedFd,
    pub shm: Shm,
}

/// Runs the compressor in the forked child (descriptors already closed by the caller) and returns its exit code.
pub fn run(args: CompressorArgs) -> i32 {
    sys::set_process_name("staticd-zip");
    crate::logging::set_compressor();
    // The master stops the compressor with TERM (and TERM is the parent-death signal); every other signal
    // meant for the master reaches this process too when it is sent to the whole unit (`systemctl kill -s
    // USR1`, HUP) or the process group (^C, ^\ at a terminal), and must neither kill it nor dump a core.
    if let Err(e) = sys::ignore_signals(&[libc::SIGHUP, libc::SIGUSR1, libc::SIGINT, libc::SIGQUIT]) {
        log::warn!("compressor: cannot ignore HUP, USR1, INT and QUIT: {e}");
    }
    match start(args) {
        Ok(()) => 0,
        Err(e) => {
            log::error!("compressor failed: {e}");
            1
        }
    }
}

/// The counter the workers watch, bumped from the compression threads.
struct Counter(Shm);

impl Counter {
    fn bump(&self) {
        self.0.note_compressed();
    }
}

// SAFETY: `Shm` is a pointer into a MAP_SHARED mapping that is never unmapped and whose every field is an
// atomic, which is exactly what makes it shareable between processes; sharing it between threads is the same.
unsafe impl Send for Counter {}
// SAFETY: as above; `note_compressed` is one atomic add.
unsafe impl Sync for Counter {}

fn start(args: CompressorArgs) -> io::Result<()> {
    let master_pid = sys::getppid();
    let cfg = args.cfg;
    let Some(compression) = cfg.compression.clone() else {
        return Ok(());
    };
    // Exactly as a worker confines itself, so the compressor reads what a worker could serve and nothing else.
    let root = crate::confine::become_confined(&cfg, master_pid)?;
    let cache_dir = args.cache_dir.try_clone()?;
    let store = Store::open(args.cache_dir, compression.cache_size).map_err(|e| {
        io::Error::new(e.kind(), format!("cannot read the cache directory {}: {e}", compression.cache_dir.display()))
    })?;
    log::info!(
        "compressor: {} entries, {} of {} bytes in {}",
        store.len(),
        store.total(),
        store.limit(),
        compression.cache_dir.display()
    );
    // Before any thread starts (they inherit it): files are read only beneath the root and written only in
    // the cache, even through the cache's descriptor, which lies outside the chroot.
    if sys::confine_files(&[root.as_fd()], &[], &[cache_dir.as_fd()])? == sys::Confinement::Unavailable {
        log::info!("this kernel has no Landlock: the compressor is confined by the chroot alone");
    }
    drop(cache_dir);
    // Before any thread starts (they inherit it): woken by a worker's request, the compressor must not take
    // the CPU from that worker before its response is out (measured: a 3 ms gap on a shared CPU without it).
    if let Err(e) = sys::set_batch_scheduling() {
        log::warn!("cannot put the compressor in SCHED_BATCH: {e}");
    }
    let counter = Counter(args.shm);
    let notify: Notify = Arc::new(move || counter.bump());
    let threads = (sys::cpus_online() / 4).max(1);
    let setup = Setup { root, store, compression, no_symlinks: cfg.no_symlinks, notify, threads, settle: SETTLE };
    serve(setup, args.requests)
}

/// Called after each finished entry (the shared counter in production, a test's own in tests).
pub(crate) type Notify = Arc<dyn Fn() + Send + Sync>;

/// Everything the loop needs once the process is confined.
pub(crate) struct Setup {
    pub root: OwnedFd,
    pub store: Store,
    pub compression: Compression,
    pub no_symlinks: bool,
    pub notify: Notify,
    pub threads: usize,
    /// [`SETTLE`] (tests that write a file and ask for it at once use zero).
    pub settle: Duration,
}

struct Job {
    rel: Vec<u8>,
    stamp: FileStamp,
    key: u128,
}

#[derive(Default)]
struct Queue {
    jobs: VecDeque<Job>,
    /// Keys queued or being compressed.
    pending: HashSet<u128>,
    /// Keys whose entry the cache refused lately (a full disk, say), not compressed again before
    /// [`RETRY_AFTER`]: each attempt would cost a whole compression for nothing.
    refused: HashMap<u128, Instant>,
    pause: Pause,
    closed: bool,
    stats: Stats,
}

/// Whether compression is paused for a full (or read-only) cache file system, and until when.
#[derive(Default)]
struct Pause(Option<Instant>);

impl Pause {
    fn active(&self, now: Instant) -> bool {
        self.0.is_some_and(|until| now < until)
    }

    /// Pauses for [`PAUSE`] from `now` (a running pause is extended); true when none was running, so that
    /// each pause is logged once.
    fn start(&mut self, now: Instant) -> bool {
        let was = self.active(now);
        self.0 = Some(now + PAUSE);
        !was
    }
}

#[derive(Default)]
struct Stats {
    entries: u64,
    incompressible: u64,
    dropped: u64,
    failed: u64,
    bytes_in: u64,
    bytes_out: u64,
    busy: Duration,
    summarised_at: Option<Instant>,
}

struct Shared {
    root: OwnedFd,
    store: Store,
    compression: Compression,
    no_symlinks: bool,
    notify: Notify,
    settle: Duration,
    queue: Mutex<Queue>,
    wake: Condvar,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, Queue> {
        // The queue stays consistent across a panic in a codec (nothing is half-updated under the lock).
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Reads requests until every writer has closed the pipe, compressing on `setup.threads` threads; then lets
/// the threads finish the job in hand and returns.
pub(crate) fn serve(setup: Setup, requests: OwnedFd) -> io::Result<()> {
    let threads = setup.threads;
    serve_shared(Shared::new(setup), threads, requests)
}

impl Shared {
    fn new(setup: Setup) -> Arc<Shared> {
        Arc::new(Shared {
            root: setup.root,
            store: setup.store,
            compression: setup.compression,
            no_symlinks: setup.no_symlinks,
            notify: setup.notify,
            settle: setup.settle,
            queue: Mutex::new(Queue::default()),
            wake: Condvar::new(),
        })
    }
}

fn serve_shared(shared: Arc<Shared>, n_threads: usize, requests: OwnedFd) -> io::Result<()> {
    let mut threads = Vec::new();
    for i in 0..n_threads.max(1) {
        let shared = Arc::clone(&shared);
        let spawned = std::thread::Builder::new().name(format!("zip{i}")).spawn(move || {
            // Here, not once before spawning: a nice value set on the main thread would slow the pipe reader.
            if let Err(e) = sys::set_nice(NICE) {
                if i == 0 {
                    log::warn!("cannot lower the compression threads' priority: {e}");
                }
            }
            compress_jobs(&shared)
        });
        match spawned {
            Ok(t) => threads.push(t),
            Err(e) if threads.is_empty() => return Err(e),
            Err(e) => log::warn!("compressor: only {i} threads: {e}"),
        }
    }
    let read = read_requests(&shared, requests);
    shared.lock().closed = true;
    shared.wake.notify_all();
    for t in threads {
        let _ = t.join();
    }
    read
}

fn read_requests(shared: &Shared, requests: OwnedFd) -> io::Result<()> {
    let mut packet = [0u8; request::MAX_REQUEST];
    loop {
        let n = match sys::read(requests.as_fd(), &mut packet) {
            // Every writer is gone: the master and all workers exited.
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(io::Error::new(e.kind(), format!("cannot read compression requests: {e}"))),
        };
        let Some(req) = request::decode(&packet[..n]) else {
            log::debug!("compressor: a malformed request of {n} bytes, dropped");
            continue;
        };
        let key = entry::key(&req.rel, &req.stamp);
        {
            let mut q = shared.lock();
            if q.pending.contains(&key) {
                continue;
            }
            if let Some(at) = q.refused.get(&key) {
                if at.elapsed() < RETRY_AFTER {
                    continue;
                }
                q.refused.remove(&key);
            }
        }
        if shared.store.has(key) {
            // Written since the worker looked (or by another process sharing the directory): let the waiting
            // workers look again.
            (shared.notify)();
            continue;
        }
        let mut q = shared.lock();
        if q.jobs.len() >= QUEUE {
            q.stats.dropped += 1;
            continue;
        }
        q.pending.insert(key);
        q.jobs.push_back(Job { rel: req.rel, stamp: req.stamp, key });
        drop(q);
        shared.wake.notify_one();
    }
}

fn compress_jobs(shared: &Shared) {
    loop {
        let job = {
            let mut q = shared.lock();
            loop {
                if q.closed {
                    return;
                }
                if let Some(job) = q.jobs.pop_front() {
                    if q.pause.active(Instant::now()) {
                        q.pending.remove(&job.key);
                        q.stats.dropped += 1;
                        continue;
                    }
                    break job;
                }
                q = shared.wake.wait(q).unwrap_or_else(|e| e.into_inner());
            }
        };
        let start = Instant::now();
        let outcome = compress_one(shared, &job);
        let took = start.elapsed();
        let mut q = shared.lock();
        q.pending.remove(&job.key);
        if matches!(outcome, Outcome::Failed) {
            if q.refused.len() >= REFUSED_MAX {
                q.refused.clear();
            }
            q.refused.insert(job.key, Instant::now());
        }
        let s = &mut q.stats;
        s.busy += took;
        match outcome {
            Outcome::Entry { size, best } => {
                s.entries += 1;
                s.bytes_in += size;
                s.bytes_out += best;
                if best == size {
                    s.incompressible += 1;
                }
            }
            Outcome::Dropped => s.dropped += 1,
            Outcome::Failed => s.failed += 1,
        }
        let due = s.summarised_at.is_none_or(|t| t.elapsed() >= SUMMARY_EVERY);
        if due {
            log::info!(
                "compressor: {} entries ({} do not compress), {} → {} bytes, {} dropped, {} failed, {:.1} s busy; \
                 cache {} of {} bytes",
                s.entries,
                s.incompressible,
                s.bytes_in,
                s.bytes_out,
                s.dropped,
                s.failed,
                s.busy.as_secs_f64(),
                shared.store.total(),
                shared.store.limit(),
            );
            *s = Stats { summarised_at: Some(Instant::now()), ..Stats::default() };
        }
    }
}

enum Outcome {
    /// Written: the source's size and the smallest kept encoding's (the size itself when none is kept).
    Entry { size: u64, best: u64 },
    /// Not compressed, by design: the file changed or went, is not a regular file, is outside the sizes.
    Dropped,
    /// The cache refused it (logged by the store).
    Failed,
}

fn compress_one(shared: &Shared, job: &Job) -> Outcome {
    let path = String::from_utf8_lossy(&job.rel);
    let Some(data) = read_version(shared, job) else {
        return Outcome::Dropped;
    };
    let start = Instant::now();
    let mut encoded = codecs::compress(&data);
    fit(&mut encoded, shared.store.limit() / 4);
    let lens = encoded.each_ref().map(|e| e.as_ref().map_or(0, |b| b.len() as u64));
    let head = entry::header(job.key, lens);
    let mut parts: Vec<&[u8]> = vec![&head];
    parts.extend(encoded.iter().flatten().map(Vec::as_slice));
    let size = data.len() as u64;
    match shared.store.put(job.key, &parts) {
        Ok(()) => {
            (shared.notify)();
            log::debug!(
                "compressed {path}: {size} → br {} zstd {} gzip {} bytes (0: not kept) in {} ms",
                lens[0],
                lens[1],
                lens[2],
                start.elapsed().as_millis()
            );
            let best = lens.iter().copied().filter(|&l| l > 0).min().unwrap_or(size);
            Outcome::Entry { size, best }
        }
        // `fit` made it small enough; kept for the store's own check.
        Err(PutError::TooBig) => Outcome::Failed,
        Err(PutError::Full(e)) => {
            if shared.lock().pause.start(Instant::now()) {
                log::warn!(
                    "compressor: the cache directory's file system refused an entry ({e}): nothing is compressed \
                     for {} s, files are served uncompressed meanwhile",
                    PAUSE.as_secs()
                );
            }
            Outcome::Failed
        }
        Err(PutError::Io(e)) => {
            // Said at warn by the store, once a minute; here for every file when debugging.
            log::debug!("compressed {path}: not kept: {e}");
            Outcome::Failed
        }
    }
}

/// Drops the biggest encodings until the entry fits in `max` bytes of disk (the store keeps no entry taking
/// over a quarter of the cache, counted as `store::on_disk`, its size rounded up to 4 KiB): a source near that
/// size that compresses only a little has three encodings together bigger than itself. At worst no encoding
/// is left, and the header alone remembers the file as not worth compressing, instead of compressing it again
/// on every request.
fn fit(encoded: &mut [Option<Vec<u8>>; 3], max: u64) {
    let total = |e: &[Option<Vec<u8>>; 3]| {
        store::on_disk(entry::HEADER_LEN as u64 + e.iter().flatten().map(|b| b.len() as u64).sum::<u64>())
    };
    while total(encoded) > max {
        let biggest = (0..3).filter(|&i| encoded[i].is_some()).max_by_key(|&i| encoded[i].as_ref().map_or(0, Vec::len));
        match biggest {
            Some(i) => encoded[i] = None,
            None => return,
        }
    }
}

/// The whole file, if it is still exactly the version asked for (before and after reading) and one the
/// configuration compresses.
fn read_version(shared: &Shared, job: &Job) -> Option<Vec<u8>> {
    let path = String::from_utf8_lossy(&job.rel);
    let fd = match sys::open_beneath(shared.root.as_fd(), &job.rel, shared.no_symlinks) {
        Ok(fd) => fd,
        Err(e) => {
            log::debug!("not compressing {path}: {e}");
            return None;
        }
    };
    let same = |when: &str| match sys::fstat(fd.as_fd()) {
        Ok(info) if info.kind == sys::FileKind::Regular && info.stamp() == job.stamp => true,
        Ok(_) => {
            log::debug!("not compressing {path}: changed {when}");
            false
        }
        Err(e) => {
            log::debug!("not compressing {path}: {e}");
            false
        }
    };
    if !same("since it was asked for") {
        return None;
    }
    // The stamp cannot tell two versions written within one tick of the file system's clock apart: a file
    // rewritten twice in that time keeps the first write's stamp, and its first version, read between the
    // writes, would be kept under the final version's key for as long as the file lives. So a version changed
    // less than a second before it is read is read only once it has settled (this thread waits: a moment
    // spent on one job, not a request made to wait); any later write falls in a later tick, changes the
    // stamp, and is caught by the checks after waiting and after reading. A ctime further in the future than
    // that (the clock was set back) drops the job.
    match settle_wait(job.stamp.ctime, SystemTime::now(), shared.settle) {
        Some(wait) if wait.is_zero() => {}
        Some(wait) => {
            std::thread::sleep(wait);
            if !same("while it settled") {
                return None;
            }
        }
        None => {
            log::debug!("not compressing {path}: changed in the future (the clock was set back)");
            return None;
        }
    }
    if !shared.compression.compresses_size(job.stamp.size) {
        log::debug!("not compressing {path}: {} bytes is outside the sizes compressed", job.stamp.size);
        return None;
    }
    let len = usize::try_from(job.stamp.size).ok()?;
    // Bounded by the configuration (a quarter of the cache), but a big cache on a small machine could still
    // ask for more than there is: that drops the job instead of aborting the process.
    let mut data = Vec::new();
    if let Err(e) = data.try_reserve_exact(len) {
        log::warn!("not compressing {path}: {e}");
        return None;
    }
    data.resize(len, 0);
    match sys::pread_from_start(fd.as_fd(), &mut data) {
        Ok(n) if n == len => {}
        Ok(_) => {
            log::debug!("not compressing {path}: shorter than its size (changing)");
            return None;
        }
        Err(e) => {
            log::debug!("not compressing {path}: {e}");
            return None;
        }
    }
    same("while it was read").then_some(data)
}

/// How long, from `now`, until a file whose ctime is `ctime` (seconds, nanoseconds since the epoch) has
/// settled (changed at least `settle` before): zero when it has; None when the ctime is more than `settle`
/// in the future (the clock was set back: no wait would be short).
fn settle_wait(ctime: (i64, i64), now: SystemTime, settle: Duration) -> Option<Duration> {
    let nanos = |secs: i128, nsec: i128| secs * 1_000_000_000 + nsec;
    let now = match now.duration_since(UNIX_EPOCH) {
        Ok(d) => nanos(d.as_secs() as i128, d.subsec_nanos() as i128),
        Err(e) => -(e.duration().as_nanos() as i128),
    };
    let wait = nanos(ctime.0 as i128, ctime.1 as i128) + settle.as_nanos() as i128 - now;
    if wait <= 0 {
        Some(Duration::ZERO)
    } else if wait <= settle.as_nanos() as i128 {
        Some(Duration::from_nanos(wait as u64))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::{Path, PathBuf};
    use std::sync::atomic::{AtomicU64, Ordering::SeqCst};

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("staticd-compressor-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("site/js")).unwrap();
        std::fs::create_dir_all(dir.join("cache")).unwrap();
        dir
    }

    fn compression(dir: &Path) -> Compression {
        Compression { cache_dir: dir.join("cache"), cache_size: 64 << 20, types: vec!["text/*".into()] }
    }

    fn stamp_at(path: &Path) -> FileStamp {
        let fd = sys::open_dir(path.parent().unwrap()).unwrap();
        let f = sys::open_beneath(fd.as_fd(), path.file_name().unwrap().as_encoded_bytes(), false).unwrap();
        sys::fstat(f.as_fd()).unwrap().stamp()
    }

    struct Running {
        shared: Arc<Shared>,
        writer: Option<OwnedFd>,
        done: Arc<AtomicU64>,
        thread: Option<std::thread::JoinHandle<io::Result<()>>>,
        cache: PathBuf,
    }

    impl Running {
        fn start(dir: &Path) -> Running {
            Running::settling(dir, Duration::ZERO)
        }

        fn settling(dir: &Path, settle: Duration) -> Running {
            let (read, write) = sys::packet_pipe().unwrap();
            let done = Arc::new(AtomicU64::new(0));
            let seen = Arc::clone(&done);
            let setup = Setup {
                root: sys::open_dir(&dir.join("site")).unwrap(),
                store: Store::open(sys::open_dir(&dir.join("cache")).unwrap(), 64 << 20).unwrap(),
                compression: compression(dir),
                no_symlinks: false,
                notify: Arc::new(move || {
                    seen.fetch_add(1, SeqCst);
                }),
                threads: 2,
                settle,
            };
            let shared = Shared::new(setup);
            let serving = Arc::clone(&shared);
            let thread = std::thread::Builder::new()
                .name("zip-reader".into())
                .spawn(move || serve_shared(serving, 2, read))
                .unwrap();
            Running { shared, writer: Some(write), done, thread: Some(thread), cache: dir.join("cache") }
        }

        fn ask(&self, rel: &[u8], stamp: &FileStamp) {
            let packet = request::encode(rel, stamp).unwrap();
            assert_eq!(sys::write(self.writer.as_ref().unwrap().as_fd(), &packet).unwrap(), packet.len());
        }

        /// Waits (30 s at most) until `n` entries are finished.
        fn wait_for(&self, n: u64) {
            let start = Instant::now();
            while self.done.load(SeqCst) < n {
                assert!(start.elapsed() < Duration::from_secs(30), "no entry after 30 s");
                std::thread::sleep(Duration::from_millis(10));
            }
        }

        fn stop(mut self) -> Vec<String> {
            self.writer.take();
            self.thread.take().unwrap().join().unwrap().unwrap();
            let mut names: Vec<String> = std::fs::read_dir(&self.cache)
                .unwrap()
                .map(|e| e.unwrap().file_name().into_string().unwrap())
                .collect();
            names.sort();
            names
        }
    }

    fn script() -> Vec<u8> {
        (0..3000).flat_map(|i| format!("export const v{i} = {};\n", i * 7).into_bytes()).collect()
    }

    #[test]
    fn a_request_becomes_a_valid_entry() {
        let dir = scratch("entry");
        let js = dir.join("site/js/app.js");
        std::fs::write(&js, script()).unwrap();
        let stamp = stamp_at(&js);
        let running = Running::start(&dir);
        running.ask(b"js/app.js", &stamp);
        running.wait_for(1);
        // Asked again once it is there: no second compression, the counter moves so workers look again.
        running.ask(b"js/app.js", &stamp);
        running.wait_for(2);
        let key = entry::key(b"js/app.js", &stamp);
        assert_eq!(running.stop(), vec![entry::name(key)]);
        let bytes = std::fs::read(dir.join("cache").join(entry::name(key))).unwrap();
        let parts = entry::parse_header(&bytes, key, bytes.len() as u64).expect("a valid entry");
        let (at, len) = parts[1].expect("zstd kept");
        let body = &bytes[at as usize..(at + len) as usize];
        assert_eq!(zstd::decode_all(body).unwrap(), script());
        assert!(parts[0].is_some() && parts[2].is_some());
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// The nice value of each of this process's threads named `name` (/proc/self/task/*/stat, field 19).
    fn nice_of(name: &str) -> Vec<i32> {
        let mut nice = Vec::new();
        for task in std::fs::read_dir("/proc/self/task").unwrap() {
            let task = task.unwrap().path();
            let Ok(comm) = std::fs::read_to_string(task.join("comm")) else { continue };
            if comm.trim_end() != name {
                continue;
            }
            let Ok(stat) = std::fs::read_to_string(task.join("stat")) else { continue };
            let after_name = &stat[stat.rfind(')').unwrap() + 2..];
            nice.push(after_name.split(' ').nth(16).unwrap().parse().unwrap());
        }
        nice
    }

    #[test]
    fn only_the_compression_threads_are_niced() {
        // Other tests run their own compressors meanwhile: every thread of a name must have the nice expected.
        let all = |name: &str, nice: i32| {
            let found = nice_of(name);
            !found.is_empty() && found.iter().all(|&n| n == nice)
        };
        let dir = scratch("nice");
        let running = Running::start(&dir);
        let start = Instant::now();
        while !all("zip0", NICE) || !all("zip1", NICE) {
            assert!(start.elapsed() < Duration::from_secs(10), "zip0 {:?} zip1 {:?}", nice_of("zip0"), nice_of("zip1"));
            std::thread::sleep(Duration::from_millis(10));
        }
        // The thread reading the pipe (here the one running `serve`) keeps the nice it started with, this
        // test thread's.
        let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap();
        let mine: i32 = stat[stat.rfind(')').unwrap() + 2..].split(' ').nth(16).unwrap().parse().unwrap();
        assert_ne!(mine, NICE, "the test runs niced already: it shows nothing");
        assert!(all("zip-reader", mine), "{:?}", nice_of("zip-reader"));
        running.stop();
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_version_is_compressed_only_once_it_has_settled() {
        let t = |secs: u64, nanos: u32| UNIX_EPOCH + Duration::new(secs, nanos);
        let s = Duration::from_secs(1);
        let zero = Some(Duration::ZERO);
        assert_eq!(settle_wait((99, 0), t(100, 0), s), zero, "exactly a second");
        assert_eq!(settle_wait((99, 1), t(100, 0), s), Some(Duration::from_nanos(1)));
        assert_eq!(settle_wait((100, 0), t(100, 0), s), Some(s), "this very moment");
        assert_eq!(settle_wait((100, 500), t(100, 0), s), None, "in the future: the clock was set back");
        assert_eq!(settle_wait((1, 999_999_999), t(100, 0), s), zero);
        assert_eq!(settle_wait((-5, 0), t(0, 0), s), zero, "before the epoch");
        assert_eq!(settle_wait((100, 0), t(100, 0), Duration::ZERO), zero);

        // Through the process: a file written just now is compressed once it has settled, from the one
        // request (the worker need not ask again).
        let dir = scratch("settle");
        let js = dir.join("site/js/app.js");
        std::fs::write(&js, script()).unwrap();
        let stamp = stamp_at(&js);
        let running = Running::settling(&dir, SETTLE);
        running.ask(b"js/app.js", &stamp);
        std::thread::sleep(Duration::from_millis(300));
        assert_eq!(running.done.load(SeqCst), 0, "compressed while still settling");
        running.wait_for(1);
        assert_eq!(running.stop(), vec![entry::name(entry::key(b"js/app.js", &stamp))]);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_full_disk_pauses_compression() {
        let now = Instant::now();
        let mut p = Pause::default();
        assert!(!p.active(now));
        assert!(p.start(now), "a new pause is logged");
        assert!(p.active(now) && p.active(now + PAUSE - Duration::from_millis(1)));
        assert!(!p.start(now + Duration::from_secs(1)), "extended, not logged again");
        assert!(p.active(now + PAUSE));
        assert!(!p.active(now + PAUSE + Duration::from_secs(1)));
        assert!(p.start(now + PAUSE + Duration::from_secs(1)), "over: the next one is logged");

        // Jobs taken off the queue during a pause are dropped without compressing, and not refused: asked
        // again once it is over, the same version is compressed.
        let dir = scratch("pause");
        let js = dir.join("site/js/app.js");
        std::fs::write(&js, script()).unwrap();
        let stamp = stamp_at(&js);
        let running = Running::start(&dir);
        running.shared.lock().pause.start(Instant::now());
        running.ask(b"js/app.js", &stamp);
        let start = Instant::now();
        while running.shared.lock().stats.dropped == 0 {
            assert!(start.elapsed() < Duration::from_secs(30), "not dropped after 30 s");
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(running.done.load(SeqCst), 0);
        assert!(running.shared.lock().pending.is_empty() && running.shared.lock().refused.is_empty());
        running.shared.lock().pause = Pause::default();
        running.ask(b"js/app.js", &stamp);
        running.wait_for(1);
        assert_eq!(running.stop(), vec![entry::name(entry::key(b"js/app.js", &stamp))]);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_stamp_that_does_not_match_makes_no_entry() {
        let dir = scratch("mismatch");
        let js = dir.join("site/js/app.js");
        std::fs::write(&js, script()).unwrap();
        let old = stamp_at(&js);
        let small = dir.join("site/small.txt");
        std::fs::write(&small, b"tiny").unwrap();
        let running = Running::start(&dir);
        // A version that is not the file's (another mtime), a file that changed after the worker saw it, a
        // file too small to compress, a path that leaves the root, one that does not exist: none is compressed.
        running.ask(b"js/app.js", &FileStamp { mtime: (1, 2), ..old });
        std::fs::write(&js, [script(), b"// more\n".to_vec()].concat()).unwrap();
        running.ask(b"js/app.js", &old);
        running.ask(b"small.txt", &stamp_at(&small));
        running.ask(b"../cache/x", &old);
        running.ask(b"missing.js", &old);
        // Then the current version, which is; its entry being the only one shows the others were dropped.
        let new = stamp_at(&js);
        running.ask(b"js/app.js", &new);
        running.wait_for(1);
        assert_eq!(running.stop(), vec![entry::name(entry::key(b"js/app.js", &new))]);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn an_entry_too_big_for_the_cache_loses_its_biggest_encodings() {
        // 64 + 4000 + 5000 + 6000 bytes take four blocks (16 KiB); without the 6000, three.
        let three = || [Some(vec![0u8; 4000]), Some(vec![0u8; 5000]), Some(vec![0u8; 6000])];
        let mut e = three();
        fit(&mut e, 16_384);
        assert_eq!(e, three(), "fits already");
        fit(&mut e, 16_383);
        assert_eq!(e.each_ref().map(|b| b.as_ref().map(Vec::len)), [Some(4000), Some(5000), None]);
        fit(&mut e, 12_288);
        assert_eq!(e.each_ref().map(|b| b.as_ref().map(Vec::len)), [Some(4000), Some(5000), None]);
        fit(&mut e, 100);
        assert_eq!(e, [None, None, None], "the header alone says: not worth it");
    }

    #[test]
    fn incompressible_files_are_remembered_as_such() {
        let dir = scratch("noise");
        let mut x = 1u32;
        let noise: Vec<u8> = (0..20_000)
            .map(|_| {
                x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
                (x >> 16) as u8
            })
            .collect();
        std::fs::write(dir.join("site/noise.txt"), &noise).unwrap();
        let stamp = stamp_at(&dir.join("site/noise.txt"));
        let running = Running::start(&dir);
        running.ask(b"noise.txt", &stamp);
        running.wait_for(1);
        let key = entry::key(b"noise.txt", &stamp);
        assert_eq!(running.stop(), vec![entry::name(key)]);
        let bytes = std::fs::read(dir.join("cache").join(entry::name(key))).unwrap();
        assert_eq!(bytes.len(), entry::HEADER_LEN);
        assert_eq!(entry::parse_header(&bytes, key, 64), Some([None, None, None]));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
