//! Pod manifest parsing must never panic, and whatever it accepts must survive a round trip.
#![no_main]

use aci::manifest::PodManifest;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = PodManifest::from_slice(data) {
        let bytes = m.to_vec().expect("an accepted manifest serialises");
        let again = PodManifest::from_slice(&bytes).expect("a serialised manifest parses");
        assert_eq!(m, again);
    }
});
