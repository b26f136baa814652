//! Fuzzes the document extractor: any bytes, as any document type, must
//! come back as text or as an `ExtractError` with a stable code, never a
//! panic, a hang or an unbounded allocation.
#![no_main]

use chorus_shared::knowledge::extract::{extract, DocType, Limits};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limits = Limits { max_pages: 200, max_objects: 50_000 };
    for ty in [DocType::Pdf, DocType::Text, DocType::Markdown, DocType::Html] {
        if let Err(e) = extract(data, ty, limits) {
            assert!(!e.code().is_empty());
        }
    }
});
