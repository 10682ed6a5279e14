//! The HTTP/1.1 protocol pieces: parsing requests, framing bodies, writing responses, dates, preconditions
//! and ranges. Pure functions with no I/O, so each is tested on its own and fuzzed.

pub mod accept;
pub mod chunked;
pub mod conditional;
pub mod date;
pub mod range;
pub mod request;
pub mod response;
pub mod syntax;
