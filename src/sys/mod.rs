//! The system layer: the only place that makes system calls of its own.
//!
//! Every system call the server makes beyond std's safe I/O (files, Unix sockets, processes) goes through a
//! small wrapper here, so the rest of the code deals in `OwnedFd`, `io::Result` and plain Rust types, and a
//! reviewer looking for `unsafe` or raw descriptors has one folder to read. One file per kernel facility:
//!
//! - `socket`: sockets, their addresses and options, sending, descriptor passing (SCM_RIGHTS), and the
//!   addresses of the machine's network interfaces;
//! - `epoll`: the event loop's readiness queue and the [`Token`] that says what an event is about;
//! - `process`: fork, signals (signalfd, kill), reaping, the process name, inherited descriptors, limits,
//!   the CPU count;
//! - `privileges`: user lookup, chroot and giving up root;
//! - `cache_dir`: the compressed-file cache directory's files (exclusive create, fsync, rename, unlink,
//!   touch), the compressor's nice value, whether a pid is alive;
//! - `files`: opening (openat2 beneath a root), fstat, reads and writes;
//! - `dir`: reading a directory beneath the root and stating its entries, for listings;
//! - `inotify`: watching directories for changes and reading which changed;
//! - `landlock`: confining which files a worker and the compressor may open, beyond the chroot;
//! - `limits`: the descriptor and inotify watch limits the open-file cache sizes itself by;
//! - `memory`: the anonymous shared mapping the statistics live in;
//! - `pipe`: the packet-mode pipe compression requests travel on;
//! - `random`: random bytes from the kernel;
//! - `write`: the write mode's directory opened without links, exclusive create, early writeback, rename
//!   without replacing.
//!
//! Calls go through `nix`'s safe wrappers wherever nix has them; raw `libc` is used only where nix lacks the
//! call or its wrapper would change behaviour, and nowhere outside this folder. Each `unsafe` block carries its
//! own `// SAFETY:` note. Everything that can fail returns `io::Error` (nix's `Errno` converts into it).

mod cache_dir;
mod dir;
mod epoll;
mod files;
mod inotify;
mod landlock;
mod limits;
mod memory;
mod pipe;
mod privileges;
mod process;
mod random;
mod socket;
mod write;

pub use cache_dir::{
    create_exclusive, fsync, lstat_at, process_exists, rename_at, set_batch_scheduling, set_nice, touch_at, unlink_at,
};
pub use dir::{stat_beneath, DirEntry, DirReader, EntryType};
pub use epoll::{Epoll, Event, Token, EPOLLERR, EPOLLET, EPOLLHUP, EPOLLIN, EPOLLOUT, EPOLLRDHUP};
pub use files::{
    check_searchable, fstat, make_dir_at, open_append, open_beneath, open_dir, open_dir_readonly, owner_and_mode,
    pread, pread_from_start, read, set_owner_and_mode, stat_at, write, FileInfo, FileKind, FileStamp,
};
pub use inotify::{
    inotify, inotify_read, inotify_unwatch, inotify_watch_dir, WatchEvent, IN_ENTRY_SET, IN_IGNORED, IN_ISDIR,
    IN_Q_OVERFLOW, IN_SELF_GONE,
};
pub use landlock::{confine_files, Confinement};
pub use limits::{max_user_watches, nofile_soft_limit};
pub use memory::map_shared_anonymous;
pub use pipe::packet_pipe;
pub use privileges::{drop_privileges, lookup_user, UserIds};
pub use process::{
    close_fds_except, cpus_online, errno_text, fork, geteuid, getppid, ignore_signals, ignore_sigpipe, kill,
    raise_nofile_limit, read_signal, reap_child, set_cloexec, set_parent_death_signal, set_process_name, signalfd,
    unblock_all_signals, wait_child, ExitKind, Forked,
};
pub use random::{random_bytes, random_hex};
pub use socket::{
    accept, interface_addresses, is_unix_socket, local_addr, recv_with_fds, send, send_with_fds, sendfile,
    seqpacket_pair, set_linger_zero, set_nodelay, set_nonblocking, shutdown_write, tcp_listener, unix_listener,
    InterfaceAddr, Received, MAX_FDS_PER_MSG,
};
pub use write::{create_exclusive_file, open_dir_beneath_nofollow, rename_noreplace, start_writeback, write_all};
