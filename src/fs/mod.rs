//! Files: the allow-list every file path passes before anything is opened, validators and
//! conditional requests, byte ranges, and the directories uploads may be written to.

pub mod allow;
pub(crate) mod cache;

pub mod meta;
#[doc(hidden)]
pub mod range;
pub mod static_dir;
pub(crate) mod stream;
pub mod upload;

pub use allow::{AllowList, FsError, OpenedFile};
pub use static_dir::StaticDir;
pub use upload::UploadDir;
