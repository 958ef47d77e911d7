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
pub use cache_policy::CachePolicy;
pub use static_dir::StaticDir;
pub use upload::UploadDir;
