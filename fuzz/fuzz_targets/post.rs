//! Fuzz target `post`: see `harness::post` for what one input is and which
//! invariants are checked.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;

#[path = "../harness.rs"]
#[allow(dead_code)]
mod harness;

static SCRATCH: LazyLock<harness::Scratch> = LazyLock::new(harness::Scratch::new);

fuzz_target!(|data: &[u8]| {
    harness::post(&SCRATCH, data);
});
