//! Reading a directory for its listing, a batch at a time, and deciding what is listed.
//!
//! A worker is one thread serving every connection, so a directory of 100,000 entries must not be read in
//! one go: [`DirScan::step`] reads and stats at most a given number of entries and returns, and the site
//! calls it again on a later turn of the event loop. [`DEFAULT_BATCH`] is the measured size that keeps a step
//! within a few milliseconds.
//!
//! What is listed is what the site would serve: a link in the listing must not lead to a 403 or 404, and
//! above all a listing must not reveal what the server would refuse to reveal.
//! - `.` and `..` never; hidden names only with `--dotfiles`, by the same rule as requests
//!   ([`is_hidden`]: `.well-known` at the root is not hidden);
//! - regular files and directories only (FIFOs, sockets and devices would be 403);
//! - a symlink is listed as what it leads to, and only if opening it beneath the *root* succeeds — the same
//!   openat2 the site serves with — so links leading outside the root, dangling links and loops are not
//!   listed, nor any symlink with `--no-symlinks`.
//!
//! Entries that vanish or cannot be resolved between readdir and stat are skipped; errors that say the
//! worker is short of resources (descriptors, memory) or the disk failed end the scan, so a partial listing
//! is never taken for the whole one.

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use super::Entry;
use crate::site::resolve::is_hidden;
use crate::sys::{self, DirReader, EntryType, FileInfo, FileKind};

/// Entries read and stated per step by default. Measured on a 100,000-entry directory (release build, ext4,
/// warm caches, a shared 2-core VM; the `#[ignore]`d `timing_100k` test): 2.2–3.5 µs per entry, almost all
/// of it the kernel's readdir + fstatat (a bare C loop of the two takes 2.2 µs here). A step of 1,024 takes
/// 2.2–3.5 ms (median), the worst seen 7.8 ms with the machine under load: within the ≲ 5 ms a turn of the
/// event loop may spend here, with room for a slower disk or a busier machine.
pub const DEFAULT_BATCH: usize = 1024;

/// What the site's options say may be listed.
#[derive(Clone, Copy, Debug)]
pub struct ScanOptions {
    /// `--dotfiles`: list hidden names too.
    pub dotfiles: bool,
    /// `--no-symlinks`: list no symlink at all (the site would not follow one).
    pub no_symlinks: bool,
}

/// A directory being read: the open directory, where it is beneath the root, and what was listed so far.
pub struct DirScan {
    reader: DirReader,
    /// A duplicate of the root descriptor, to resolve symlinks beneath it in later steps; None with
    /// `no_symlinks`, where no link is followed.
    root: Option<OwnedFd>,
    /// The directory's root-relative path followed by '/' (empty for the root): each entry's path is this
    /// plus its name, built in `path` without a new allocation per entry.
    prefix_len: usize,
    path: Vec<u8>,
    opts: ScanOptions,
    entries: Vec<Entry>,
    done: bool,
}

impl DirScan {
    /// Opens `rel` (root-relative, no leading '/', "" for the root) beneath `root` with
    /// openat2(RESOLVE_BENEATH|RESOLVE_NO_MAGICLINKS[|RESOLVE_NO_SYMLINKS]), O_DIRECTORY. Errors are the
    /// open's (ENOENT, ENOTDIR, EACCES, EXDEV, ELOOP, …), for the site to map to a status.
    pub fn open(root: BorrowedFd<'_>, rel: &[u8], opts: ScanOptions) -> io::Result<DirScan> {
        let rel = rel.strip_suffix(b"/").unwrap_or(rel);
        let reader = DirReader::open_beneath(root, rel, opts.no_symlinks)?;
        let root = if opts.no_symlinks { None } else { Some(root.try_clone_to_owned()?) };
        let mut path = rel.to_vec();
        if !path.is_empty() {
            path.push(b'/');
        }
        Ok(DirScan { reader, root, prefix_len: path.len(), path, opts, entries: Vec::new(), done: false })
    }

    /// Reads up to `max` more directory entries (listed or not; `max` 0 counts as 1 so every step makes
    /// progress); Ok(true) once the directory is exhausted, and on every call after.
    pub fn step(&mut self, max: usize) -> io::Result<bool> {
        for _ in 0..max.max(1) {
            if self.done {
                break;
            }
            match self.reader.next_entry()? {
                Some(entry) => {
                    if let Some(listed) = self.examine(entry)? {
                        self.entries.push(listed);
                    }
                }
                None => self.done = true,
            }
        }
        Ok(self.done)
    }

    /// The entries listed, in directory order (see `sort`).
    pub fn into_entries(self) -> Vec<Entry> {
        self.entries
    }

    /// Whether one entry is listed, and as what.
    fn examine(&mut self, entry: sys::DirEntry) -> io::Result<Option<Entry>> {
        let name = entry.name;
        // d_type already rules these out without a stat.
        if name == b"." || name == b".." || entry.kind == EntryType::Other {
            return Ok(None);
        }
        self.path.truncate(self.prefix_len);
        self.path.extend_from_slice(&name);
        if !self.opts.dotfiles && is_hidden(&self.path) {
            return Ok(None);
        }
        let info = match entry.kind {
            EntryType::Symlink => self.follow()?,
            // lstat has the size and mtime, and the last word on the type: the entry may have been replaced
            // since readdir, or the file system may not fill d_type.
            _ => match skip_unservable(self.reader.lstat_entry(&name))? {
                Some((EntryType::Symlink, _)) => self.follow()?,
                Some((_, info)) => Some(info),
                None => None,
            },
        };
        let Some(info) = info else { return Ok(None) };
        let is_dir = match info.kind {
            FileKind::Regular => false,
            FileKind::Directory => true,
            FileKind::Other => return Ok(None),
        };
        let size = if is_dir { 0 } else { info.size };
        Ok(Some(Entry { name, is_dir, size, mtime_sec: info.mtime_sec }))
    }

    /// What the symlink at `self.path` leads to, opened beneath the root as the site would open it; None
    /// when it cannot be (outside the root, dangling, a loop) or with `no_symlinks`.
    fn follow(&self) -> io::Result<Option<FileInfo>> {
        let Some(root) = &self.root else { return Ok(None) };
        skip_unservable(sys::stat_beneath(root.as_fd(), &self.path, false))
    }
}

/// Ok(None) for the errors that mean "this entry cannot be served, do not list it" — gone (ENOENT,
/// ENOTDIR), refused (EACCES, EPERM), leading outside the root (EXDEV), a loop or too many links (ELOOP),
/// too long a path (ENAMETOOLONG), a rename racing the resolution (EAGAIN) — and the error itself for the
/// rest (EMFILE, ENOMEM, EIO, …), which say nothing about the entry.
fn skip_unservable<T>(result: io::Result<T>) -> io::Result<Option<T>> {
    match result {
        Ok(value) => Ok(Some(value)),
        Err(e) => match e.raw_os_error() {
            Some(
                libc::ENOENT
                | libc::ENOTDIR
                | libc::EACCES
                | libc::EPERM
                | libc::EXDEV
                | libc::ELOOP
                | libc::ENAMETOOLONG
                | libc::EAGAIN,
            ) => Ok(None),
            _ => Err(e),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::ffi::OsStrExt;
    use std::path::{Path, PathBuf};

    /// A temporary tree: `site/` is the root, `outside` a file next to it.
    struct Scratch(PathBuf);

    impl Scratch {
        fn new(name: &str) -> Scratch {
            let dir = std::env::temp_dir().join(format!("staticd-listing-{}-{name}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(dir.join("site")).unwrap();
            Scratch(dir)
        }
        fn root(&self) -> PathBuf {
            self.0.join("site")
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn path_of(dir: &Path, name: &[u8]) -> PathBuf {
        dir.join(std::ffi::OsStr::from_bytes(name))
    }

    /// Everything the rules must sort out, in `site/d` (and a few names at the root).
    fn populate(s: &Scratch) {
        let root = s.root();
        let d = root.join("d");
        std::fs::create_dir_all(d.join("sub")).unwrap();
        std::fs::create_dir_all(root.join(".well-known")).unwrap();
        std::fs::create_dir_all(root.join(".git")).unwrap();
        std::fs::write(root.join("top.txt"), b"top").unwrap();
        std::fs::write(s.0.join("outside"), b"secret").unwrap();
        std::fs::write(d.join("file2"), b"12").unwrap();
        std::fs::write(d.join("file10"), vec![b'x'; 10]).unwrap();
        std::fs::write(d.join(".env"), b"KEY=1").unwrap();
        std::fs::create_dir_all(d.join(".well-known")).unwrap();
        std::fs::write(path_of(&d, b"new\nline\xff\xfe.txt"), b"odd").unwrap();
        nix::unistd::mkfifo(&d.join("fifo"), nix::sys::stat::Mode::from_bits_truncate(0o644)).unwrap();
        let _ = std::os::unix::net::UnixListener::bind(d.join("sock")).unwrap();
        let link = |target: &str, name: &str| std::os::unix::fs::symlink(target, d.join(name)).unwrap();
        link("file2", "in_file");
        link("../top.txt", "up_file");
        link("sub", "in_dir");
        link("../../outside", "out_file");
        link("/etc/passwd", "absolute");
        link("missing", "dangling");
        link("loop_b", "loop_a");
        link("loop_a", "loop_b");
        link("fifo", "to_fifo");
        link("../.git", "to_hidden_dir"); // the site would serve /d/to_hidden_dir/, so it is listed
        let mtime = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_796_119_872);
        std::fs::File::options().write(true).open(d.join("file2")).unwrap().set_modified(mtime).unwrap();
    }

    fn scan(root: &Path, rel: &[u8], opts: ScanOptions, batch: usize) -> Vec<Entry> {
        let root_fd = sys::open_dir(root).unwrap();
        let mut scan = DirScan::open(root_fd.as_fd(), rel, opts).unwrap();
        drop(root_fd); // the scan keeps its own handle on the root
        let mut steps = 0;
        while !scan.step(batch).unwrap() {
            steps += 1;
            assert!(steps < 1000, "no progress");
        }
        assert!(scan.step(batch).unwrap(), "stays exhausted");
        let mut entries = scan.into_entries();
        entries.sort_by(|a, b| a.name.cmp(&b.name));
        entries
    }

    fn names(entries: &[Entry]) -> Vec<String> {
        entries
            .iter()
            .map(|e| format!("{}{}", String::from_utf8_lossy(&e.name), if e.is_dir { "/" } else { "" }))
            .collect()
    }

    const PLAIN: ScanOptions = ScanOptions { dotfiles: false, no_symlinks: false };

    #[test]
    fn lists_what_the_site_would_serve() {
        let s = Scratch::new("rules");
        populate(&s);
        let entries = scan(&s.root(), b"d", PLAIN, 4096);
        assert_eq!(
            names(&entries),
            [
                "file10",
                "file2",
                "in_dir/",
                "in_file",
                "new\nline\u{fffd}\u{fffd}.txt",
                "sub/",
                "to_hidden_dir/",
                "up_file"
            ]
        );
        let by_name = |n: &[u8]| entries.iter().find(|e| e.name == n).unwrap();
        assert_eq!(by_name(b"new\nline\xff\xfe.txt").name, b"new\nline\xff\xfe.txt", "bytes kept exactly");
        assert_eq!((by_name(b"file2").size, by_name(b"file2").mtime_sec), (2, 1_796_119_872));
        assert_eq!(by_name(b"file10").size, 10);
        // A link is listed as its target: file2's size and mtime; a directory's size is 0.
        assert_eq!((by_name(b"in_file").size, by_name(b"in_file").mtime_sec), (2, 1_796_119_872));
        assert_eq!(by_name(b"up_file").size, 3);
        assert_eq!(by_name(b"in_dir").size, 0);

        let with_dots = scan(&s.root(), b"d", ScanOptions { dotfiles: true, no_symlinks: false }, 4096);
        let with_dots = names(&with_dots);
        assert!(with_dots.contains(&".env".to_owned()) && with_dots.contains(&".well-known/".to_owned()));
        assert_eq!(with_dots.len(), 10);

        let no_links = scan(&s.root(), b"d", ScanOptions { dotfiles: false, no_symlinks: true }, 4096);
        assert_eq!(names(&no_links), ["file10", "file2", "new\nline\u{fffd}\u{fffd}.txt", "sub/"]);
    }

    #[test]
    fn root_shows_well_known_but_no_other_dotfile() {
        let s = Scratch::new("root");
        populate(&s);
        assert_eq!(names(&scan(&s.root(), b"", PLAIN, 4096)), [".well-known/", "d/", "top.txt"]);
        assert_eq!(names(&scan(&s.root(), b"d/", PLAIN, 4096)).len(), 8, "a trailing slash is tolerated");
    }

    #[test]
    fn small_steps_give_the_same_listing() {
        let s = Scratch::new("steps");
        populate(&s);
        for n in 0..40 {
            std::fs::write(s.root().join(format!("d/many{n}")), b"").unwrap();
        }
        let whole = scan(&s.root(), b"d", PLAIN, usize::MAX);
        assert_eq!(whole.len(), 48);
        for batch in [0, 1, 2, 7] {
            assert_eq!(scan(&s.root(), b"d", PLAIN, batch), whole, "batch {batch}");
        }
    }

    #[test]
    fn open_errors_are_the_opens() {
        let s = Scratch::new("errors");
        populate(&s);
        let root = sys::open_dir(&s.root()).unwrap();
        let errno = |rel: &[u8], opts| DirScan::open(root.as_fd(), rel, opts).err().and_then(|e| e.raw_os_error());
        assert_eq!(errno(b"missing", PLAIN), Some(libc::ENOENT));
        assert_eq!(errno(b"top.txt", PLAIN), Some(libc::ENOTDIR));
        assert_eq!(errno(b"..", PLAIN), Some(libc::EXDEV));
        assert_eq!(errno(b"d/in_dir", ScanOptions { dotfiles: false, no_symlinks: true }), Some(libc::ELOOP));
        assert!(DirScan::open(root.as_fd(), b"d/in_dir", PLAIN).is_ok());
    }

    /// `cargo test --release --lib timing_100k -- --ignored --nocapture`: the numbers behind DEFAULT_BATCH
    /// (and the cost of sorting and rendering what it reads). Files are made in the system's temp directory.
    #[test]
    #[ignore]
    fn timing_100k() {
        use crate::site::listing::*;
        use std::time::{Duration, Instant};
        const N: usize = 100_000;
        let s = Scratch::new("timing");
        let big = s.root().join("big");
        std::fs::create_dir_all(&big).unwrap();
        for i in 0..N {
            std::fs::write(big.join(format!("file-{i}.txt")), vec![b'x'; i % 97]).unwrap();
        }
        let root = sys::open_dir(&s.root()).unwrap();
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        for round in 0..3 {
            let start = Instant::now();
            let mut scan = DirScan::open(root.as_fd(), b"big", PLAIN).unwrap();
            let opened = start.elapsed();
            let mut steps = Vec::new();
            loop {
                let t = Instant::now();
                let done = scan.step(DEFAULT_BATCH).unwrap();
                steps.push(t.elapsed());
                if done {
                    break;
                }
            }
            let total = start.elapsed();
            let mut entries = scan.into_entries();
            assert_eq!(entries.len(), N);
            steps.sort();
            let mut sorts = Vec::new();
            for (key, order) in
                [(SortKey::Size, Order::Desc), (SortKey::Mtime, Order::Desc), (SortKey::Name, Order::Asc)]
            {
                let t = Instant::now();
                sort(&mut entries, key, order);
                sorts.push(format!("{key:?} {:.1} ms", ms(t.elapsed())));
            }
            let t = Instant::now();
            let html = render_html("/big/", &entries, SortKey::Name, Order::Asc);
            let html_time = t.elapsed();
            let t = Instant::now();
            let json = render_json("/big/", &entries);
            let json_time = t.elapsed();
            // In batches, as a caller spreading the work over turns would: the worst batch is the stall.
            let (mut html_worst, mut json_worst) = (Duration::ZERO, Duration::ZERO);
            let (mut html_out, mut json_out) = (Vec::new(), Vec::new());
            html_start(&mut html_out, "/big/", &entries, SortKey::Name, Order::Asc);
            json_start(&mut json_out, "/big/", &entries);
            for batch in entries.chunks(RENDER_BATCH) {
                let t = Instant::now();
                html_rows(&mut html_out, batch);
                html_worst = html_worst.max(t.elapsed());
                let t = Instant::now();
                json_rows(&mut json_out, batch);
                json_worst = json_worst.max(t.elapsed());
            }
            html_end(&mut html_out, &entries);
            json_end(&mut json_out);
            assert!(html_out == html && json_out == json);
            println!(
                "round {round}: open {:.3} ms; open + {} steps of {DEFAULT_BATCH}: {:.1} ms ({:.2} ms per 1,000 \
                 entries), step median {:.2} ms, worst {:.2} ms; sort {}; html {:.1} ms ({} KiB, worst batch of \
                 {RENDER_BATCH} {:.2} ms); json {:.1} ms ({} KiB, worst batch {:.2} ms)",
                ms(opened),
                steps.len(),
                ms(total),
                ms(total) / (N as f64 / 1000.0),
                ms(steps[steps.len() / 2]),
                ms(steps[steps.len() - 1]),
                sorts.join(", "),
                ms(html_time),
                html.len() / 1024,
                ms(html_worst),
                ms(json_time),
                json.len() / 1024,
                ms(json_worst)
            );
        }
    }
}
