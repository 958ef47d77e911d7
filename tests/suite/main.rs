//! The integration tests, one binary: each module is one subject, over real sockets, on
//! io_uring and on epoll. One binary links once instead of once per subject.
//!
//! Tests that measure the whole process stay binaries of their own, beside this one: thread
//! counts (`threads`), peak memory and CPU time (`upload_memory`), the file size limit
//! (`upload_full_disk`), the process-wide log subscriber (`tracing`, `hardening`), the
//! descriptor limit (`emfile`), and the latency probes of cold files (`cold_files`,
//! `off_worker`), which other tests' load would disturb.

#[macro_use]
#[path = "../common/mod.rs"]
mod common;

// The binary's demo app, checked over real sockets (`responses`, `front_page`, `files`,
// `streams`). It names the benchmark routes `crate::routes`, as the binary does. Each module
// uses a part of it, some parts only with features.
#[allow(dead_code)]
#[path = "../../src/bin/ringbolt/demo.rs"]
mod demo;
use common::routes;

mod access_log;
mod admin;
mod blocking;
mod conformance;
mod examples;
mod files;
mod framing;
mod front_page;
mod input;
mod keep_alive;
mod limits;
mod middleware;
mod panics;
mod pipelining;
mod routing;
mod state;
mod streams;
mod timeouts;
mod uploads;

// What a feature adds.
#[cfg(feature = "templates")]
mod builders;
#[cfg(feature = "templates")]
mod responses;
#[cfg(feature = "templates")]
mod templates;

#[cfg(feature = "compress")]
mod compress;
#[cfg(feature = "compress")]
mod file_validators;
#[cfg(feature = "compress")]
mod media_library;
#[cfg(feature = "compress")]
mod mount;
#[cfg(feature = "compress")]
mod test_client;

// The binary, which needs every feature.
#[cfg(all(feature = "cli", feature = "templates", feature = "compress"))]
mod cli;
#[cfg(all(feature = "cli", feature = "templates", feature = "compress"))]
mod shutdown;
#[cfg(all(feature = "cli", feature = "templates", feature = "compress"))]
mod static_policy;
#[cfg(all(feature = "cli", feature = "templates", feature = "compress"))]
mod upgrade;
