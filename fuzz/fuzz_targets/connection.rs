//! Arbitrary clients through the whole connection state machine: the fuzzer's bytes become
//! what a client sends (split into segments that arrive over virtual time), how it ends
//! (close, reset or silence), how it reads (a window, small writes) and whether the server
//! is draining. The connection runs the real code on an in-memory socket and a virtual
//! clock (`--cfg fuzzing`). It must end (every wait has a timeout), leave no timer or
//! socket behind, and write a well-formed sequence of responses.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ringbolt::fuzzing::{Script, check_responses, fuzz_app, fuzz_timeouts, run};
use ringbolt::fs::AllowList;
use ringbolt::{Api, Config};

fn app() -> (&'static Api, &'static AllowList) {
    thread_local! {
        static APP: (&'static Api, &'static AllowList) = {
            let dir = std::env::temp_dir().join(format!("ringbolt-fuzz-conn-{}", std::process::id()));
            std::fs::create_dir_all(&dir).expect("fuzz directory");
            let (api, allow) = fuzz_app(&dir);
            (Box::leak(Box::new(api)), Box::leak(Box::new(allow)))
        };
    }
    APP.with(|a| *a)
}

fuzz_target!(|data: &[u8]| {
    let (api, allow) = app();
    let script = Script::from_fuzz(data);
    let config = Config {
        timeouts: fuzz_timeouts(),
        ..Config::default()
    };
    let outcome = run(api, allow, config, &script);
    assert!(outcome.ended, "the connection hung: {script:?}");
    if let Err(e) = check_responses(&outcome.output) {
        panic!(
            "malformed output: {e}\n{}",
            String::from_utf8_lossy(&outcome.output)
        );
    }
});
