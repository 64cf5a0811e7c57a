//! Fuzz target: any text compiled as a template, in either language (and in the one
//! detection picks), yields an engine or compile errors, never a panic or a stack overflow.
//!
//! Run with `cargo +nightly fuzz run template --fuzz-dir crates/fuzz` from the repository root.

#![no_main]

use libfuzzer_sys::fuzz_target;
use vaultward_template::{Engine, Syntax, TemplateSpec, detect_syntax};

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let detected = detect_syntax(text, None);
        for (syntax, detected) in [(Syntax::Go, false), (Syntax::Handlebars, false), (detected, true)] {
            for strict in [false, true] {
                let _ = Engine::new(vec![TemplateSpec {
                    name: "fuzz".to_owned(),
                    text: text.to_owned(),
                    error_on_missing_key: strict,
                    syntax,
                    detected,
                    destination: None,
                }]);
            }
        }
    }
});
