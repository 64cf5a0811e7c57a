//! Fuzz target: any text compiled as a template yields an engine or compile errors, never a
//! panic or a stack overflow.
//!
//! Run with `cargo +nightly fuzz run template --fuzz-dir crates/fuzz` from the repository root.

#![no_main]

use libfuzzer_sys::fuzz_target;
use vaultward_template::{Engine, TemplateSpec};

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        for strict in [false, true] {
            let _ = Engine::new(vec![TemplateSpec { name: "fuzz".to_owned(), text: text.to_owned(), error_on_missing_key: strict }]);
        }
    }
});
