//! Files: the allow-list every file path passes before anything is opened, validators and
//! conditional requests, byte ranges, served directories and their cache policies, and the
//! directories uploads may be written to.

pub mod allow;
pub(crate) mod cache;
pub mod cache_policy;

pub mod meta;
pub(crate) mod pages;
#[doc(hidden)]
pub mod range;
pub mod static_dir;
pub(crate) mod stream;
pub mod upload;

pub use allow::{AllowList, FsError, OpenedFile};

/// Whether a file operation may wait for the disk. With `No` it goes only as far as the
/// kernel's caches answer, and fails with an error of kind
/// [`WouldBlock`](std::io::ErrorKind::WouldBlock) where it would have to wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Wait {
    Yes,
    No,
}
pub use cache_policy::CachePolicy;
pub use static_dir::{Dotfiles, StaticDir};
pub use upload::UploadDir;
