//! File answers, on top of the framework: served directories ([`StaticDir`], a handler),
//! and what a file response becomes for a request (a 200 with the file, a 206, a 304, a
//! 412, a 416, a 404). Deciding lives here; sending the decided extents lives in the
//! transport (`transport::send_file`). Users reach `StaticDir` as `ringbolt::fs::StaticDir`.

mod answer;
mod static_dir;

pub(crate) use answer::{FileSettings, Prepared, ready_file};
pub use static_dir::{Dotfiles, StaticDir};
