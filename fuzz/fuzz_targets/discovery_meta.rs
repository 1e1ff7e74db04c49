//! Meta tag scanning and image reference parsing never panic on any input.
#![no_main]

use aci::discovery::{AppReference, parse_meta_tags};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = parse_meta_tags(s);
        if let Ok(r) = AppReference::parse(s) {
            let again = AppReference::parse(&r.to_string()).expect("Display output parses");
            assert_eq!(r, again);
        }
    }
});
