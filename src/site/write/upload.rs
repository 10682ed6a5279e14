//! An upload's body on its way to disk: a hidden temporary file created exclusively in the target's own
//! directory, so the final rename is atomic (same directory, same file system) and a reader sees the old file
//! or the whole new one, never a part. The body streams through in the pieces the engine frames; nothing is
//! held in memory.
//!
//! Whatever ends the upload early (the client leaves, a deadline, bad framing, a full disk) drops it, and
//! dropping an upload that was not committed removes its temporary file: an abort leaves nothing behind.

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use crate::engine::Upload;
use crate::site::write::target::TEMP_PREFIX;
use crate::sys::{self, FileInfo};

/// Writeback of what has been written is started every this many bytes, so the fsync at the end waits for
/// at most this much rather than for the whole body.
const WRITEBACK_EVERY: u64 = 8 * 1024 * 1024;

/// What the finished upload becomes (decided from the request head, kept with the body).
#[derive(Debug, Clone)]
pub enum Plan {
    /// PUT: this name in the directory.
    Put { name: Vec<u8> },
    /// POST: a new name chosen at the end.
    Post { names: super::names::Names },
}

pub struct TempUpload {
    /// The directory the file goes into (opened beneath the root, no symlinks on the way).
    dir: OwnedFd,
    /// That directory, relative to the root.
    pub dir_rel: Vec<u8>,
    pub plan: Plan,
    temp: String,
    file: OwnedFd,
    written: u64,
    writeback_from: u64,
    committed: bool,
}

impl TempUpload {
    /// Creates the temporary file in `dir`: `.staticd-upload-<pid>-<16 hex>`.
    pub fn create(dir: OwnedFd, dir_rel: Vec<u8>, plan: Plan) -> io::Result<TempUpload> {
        let mut tries = 0;
        loop {
            let temp = format!("{TEMP_PREFIX}{}-{}", std::process::id(), sys::random_hex(8)?);
            match sys::create_exclusive_file(dir.as_fd(), temp.as_bytes()) {
                Ok(file) => {
                    return Ok(TempUpload {
                        dir,
                        dir_rel,
                        plan,
                        temp,
                        file,
                        written: 0,
                        writeback_from: 0,
                        committed: false,
                    })
                }
                Err(e) if e.raw_os_error() == Some(libc::EEXIST) && tries < 3 => tries += 1,
                Err(e) => return Err(e),
            }
        }
    }

    pub fn dir(&self) -> BorrowedFd<'_> {
        self.dir.as_fd()
    }

    /// Makes the bytes durable and says what the file is now (its ETag comes from this).
    pub fn sync(&mut self) -> io::Result<FileInfo> {
        sys::fsync(self.file.as_fd())?;
        sys::fstat(self.file.as_fd())
    }

    /// Renames the temporary file to `name`: over an existing file, or (`noreplace`) only if there is none
    /// (EEXIST). Once it succeeds there is no temporary file left to remove.
    pub fn commit_as(&mut self, name: &[u8], noreplace: bool) -> io::Result<()> {
        let temp = self.temp.as_bytes();
        let r = if noreplace {
            sys::rename_noreplace(self.dir.as_fd(), temp, name)
        } else {
            sys::rename_at(self.dir.as_fd(), temp, name)
        };
        if r.is_ok() {
            self.committed = true;
        }
        r
    }
}

/// The status a failed write of the body is refused with: 507 when the disk or the quota is full (the client
/// may try again later, or elsewhere), 500 for anything else.
pub fn write_error_status(e: &io::Error) -> u16 {
    match e.raw_os_error() {
        Some(libc::ENOSPC | libc::EDQUOT) => 507,
        _ => 500,
    }
}

impl Upload for TempUpload {
    fn write(&mut self, data: &[u8]) -> Result<(), u16> {
        let fail = |e: io::Error| {
            let status = write_error_status(&e);
            if status == 500 {
                log::error!("upload to /{}: {e}", String::from_utf8_lossy(&self.dir_rel));
            }
            status
        };
        sys::write_all(self.file.as_fd(), data).map_err(fail)?;
        self.written += data.len() as u64;
        if self.written - self.writeback_from >= WRITEBACK_EVERY {
            sys::start_writeback(self.file.as_fd(), self.writeback_from, self.written - self.writeback_from)
                .map_err(fail)?;
            self.writeback_from = self.written;
        }
        Ok(())
    }
}

impl Drop for TempUpload {
    fn drop(&mut self) {
        if !self.committed {
            if let Err(e) = sys::unlink_at(self.dir.as_fd(), self.temp.as_bytes()) {
                log::warn!("cannot remove the upload's temporary file {}: {e}", self.temp);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("staticd-upload-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn names_in(dir: &std::path::Path) -> Vec<String> {
        let mut v: Vec<String> =
            std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        v.sort();
        v
    }

    fn open(dir: &std::path::Path) -> OwnedFd {
        sys::open_dir_readonly(dir).unwrap()
    }

    #[test]
    fn an_upload_dropped_before_its_commit_leaves_nothing() {
        let dir = scratch("abort");
        let mut up = TempUpload::create(open(&dir), b"up".to_vec(), Plan::Put { name: b"f".to_vec() }).unwrap();
        assert_eq!(names_in(&dir).len(), 1);
        assert!(names_in(&dir)[0].starts_with(&format!("{TEMP_PREFIX}{}-", std::process::id())));
        up.write(b"partial").unwrap();
        drop(up);
        assert!(names_in(&dir).is_empty());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_committed_upload_is_the_file_and_nothing_else() {
        let dir = scratch("commit");
        let mut up = TempUpload::create(open(&dir), b"up".to_vec(), Plan::Put { name: b"f".to_vec() }).unwrap();
        let big = vec![b'x'; (WRITEBACK_EVERY + 5) as usize];
        up.write(&big[..1000]).unwrap();
        up.write(&big[1000..]).unwrap();
        assert_eq!(up.writeback_from, up.written);
        let info = up.sync().unwrap();
        assert_eq!(info.size, WRITEBACK_EVERY + 5);
        std::fs::write(dir.join("taken"), b"old").unwrap();
        assert_eq!(up.commit_as(b"taken", true).unwrap_err().raw_os_error(), Some(libc::EEXIST));
        up.commit_as(b"f", false).unwrap();
        drop(up);
        assert_eq!(names_in(&dir), ["f", "taken"]);
        assert_eq!(std::fs::metadata(dir.join("f")).unwrap().len(), WRITEBACK_EVERY + 5);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_full_disk_is_507() {
        assert_eq!(write_error_status(&io::Error::from_raw_os_error(libc::ENOSPC)), 507);
        assert_eq!(write_error_status(&io::Error::from_raw_os_error(libc::EDQUOT)), 507);
        assert_eq!(write_error_status(&io::Error::from_raw_os_error(libc::EIO)), 500);
    }
}
