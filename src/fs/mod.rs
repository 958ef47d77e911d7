//! The public `ringbolt::fs` module: served directories ([`StaticDir`]), upload
//! directories ([`UploadDir`]), the allow-list every file path passes before anything is
//! opened ([`AllowList`]), and cache policies ([`CachePolicy`]).
//!
//! This file is the module's face and only declares and re-exports. The files beside it are
//! the file-system mechanisms below the framework (no request, no response): the
//! allow-list, the open-file cache, validators and conditional requests, byte ranges, page
//! cache residency, a file body's plan of pieces, upload directories, cache policies.
//! [`StaticDir`] itself, a handler, lives above the framework (`src/files/`).

mod allow;
pub(crate) mod cache;
pub mod cache_policy;
#[cfg(any(fuzzing, feature = "internals"))]
#[doc(hidden)]
pub mod meta;
#[cfg(not(any(fuzzing, feature = "internals")))]
pub(crate) mod meta;
pub(crate) mod pages;
#[cfg(any(fuzzing, feature = "internals"))]
#[doc(hidden)]
pub mod range;
#[cfg(not(any(fuzzing, feature = "internals")))]
pub(crate) mod range;
pub(crate) mod stream;
pub(crate) mod upload;

pub use crate::files::{Dotfiles, StaticDir};
pub use allow::{AllowList, FsError, OpenedFile};
pub use cache_policy::CachePolicy;
pub(crate) use pages::Wait;
pub use upload::{NewFile, UploadDir};
