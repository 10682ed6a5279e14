//! Buffers recycled across the connections of one worker, so a busy worker does not allocate per request and
//! an idle keep-alive connection holds none.

/// Most read buffers kept for reuse; beyond this they are freed.
const MAX_POOLED_READ_BUFS: usize = 256;

pub struct Pools {
    /// Output segments (`engine::output`).
    pub out: Vec<Vec<u8>>,
    /// Read buffers, all `read_buf_size` long.
    read: Vec<Box<[u8]>>,
    read_buf_size: usize,
}

impl Pools {
    pub fn new(read_buf_size: usize) -> Pools {
        Pools { out: Vec::new(), read: Vec::new(), read_buf_size }
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
