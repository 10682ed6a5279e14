//! A connection's read buffer: taken from the worker's pool when bytes arrive, given back whenever no request
//! is in progress, so an idle keep-alive connection holds no buffer.

use crate::engine::pools::Pools;

#[derive(Default)]
pub struct ReadBuf {
    buf: Option<Box<[u8]>>,
    /// Unparsed bytes are `buf[pos..end]`.
    pos: usize,
    end: usize,
}

impl ReadBuf {
    /// Bytes received and not consumed yet.
    pub fn unparsed(&self) -> &[u8] {
        match &self.buf {
            Some(buf) => &buf[self.pos..self.end],
            None => &[],
        }
    }

    pub fn consume(&mut self, n: usize) {
        self.pos += n;
    }

    /// Forgets every unparsed byte (after a refusal none of it may be interpreted).
    pub fn discard(&mut self) {
        self.pos = 0;
        self.end = 0;
    }

    /// The free space to read into, making room by moving unparsed bytes to the front when the buffer is
    /// full at the end. Empty when the buffer holds nothing but unparsed bytes.
    pub fn space(&mut self, pools: &mut Pools) -> &mut [u8] {
        let buf = self.buf.get_or_insert_with(|| pools.take_read_buf());
        if self.pos == self.end {
            self.pos = 0;
            self.end = 0;
        } else if self.end == buf.len() && self.pos > 0 {
            buf.copy_within(self.pos..self.end, 0);
            self.end -= self.pos;
            self.pos = 0;
        }
        &mut buf[self.end..]
    }

    /// Records `n` bytes read into `space`.
    pub fn filled(&mut self, n: usize) {
        self.end += n;
    }

    /// Gives the buffer back to the pool when nothing is left to parse.
    pub fn release_if_idle(&mut self, pools: &mut Pools) {
        if self.pos == self.end {
            self.release(pools);
        }
    }

    pub fn release(&mut self, pools: &mut Pools) {
        if let Some(buf) = self.buf.take() {
            self.pos = 0;
            self.end = 0;
            pools.recycle_read_buf(buf);
        }
    }
}
