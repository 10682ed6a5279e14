//! Buffers recycled across the connections of one worker, so a busy worker does not allocate per request and
//! an idle keep-alive connection holds none.

/// Most read buffers kept for reuse; beyond this they are freed.
const MAX_POOLED_READ_BUFS: usize = 256;

/// The buffer a kept body of known length is read through (see `Conn::read_kept_body`): one read and one write
/// per turn's budget, where the request-head-sized read buffer would take sixteen of each.
pub const BODY_BUF_SIZE: usize = 256 * 1024;

pub struct Pools {
    /// Output segments (`engine::output`).
    pub out: Vec<Vec<u8>>,
    /// Read buffers, all `read_buf_size` long.
    read: Vec<Box<[u8]>>,
    read_buf_size: usize,
    /// One body buffer for the whole worker, made on the first upload: a body passes through it within one
    /// call, so the connections never share what is in it.
    body: Option<Box<[u8]>>,
}

impl Pools {
    pub fn new(read_buf_size: usize) -> Pools {
        Pools { out: Vec::new(), read: Vec::new(), read_buf_size, body: None }
    }

    /// The worker's body buffer, [`BODY_BUF_SIZE`] long.
    pub fn body_buf(&mut self) -> &mut [u8] {
        self.body.get_or_insert_with(|| vec![0; BODY_BUF_SIZE].into_boxed_slice())
    }

    pub fn take_read_buf(&mut self) -> Box<[u8]> {
        let size = self.read_buf_size;
        self.read.pop().unwrap_or_else(|| vec![0; size].into_boxed_slice())
    }

    pub fn recycle_read_buf(&mut self, buf: Box<[u8]>) {
        if self.read.len() < MAX_POOLED_READ_BUFS && buf.len() == self.read_buf_size {
            self.read.push(buf);
        }
    }
}
