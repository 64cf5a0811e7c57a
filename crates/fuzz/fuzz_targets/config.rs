//! Fuzz target: any text given to the config parser (as HCL and as JSON) yields a config or
//! errors, never a panic, a hang or a stack overflow.
//!
//! Run with `cargo +nightly fuzz run config --fuzz-dir crates/fuzz` from the repository root.

#![no_main]

use libfuzzer_sys::fuzz_target;
use vaultward_config::{Source, parse};

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = parse(&[Source::new("fuzz.hcl", text)]);
        let _ = parse(&[Source::new("fuzz.json", text)]);
    }
});
