//! Round trips: every valid manifest we generate is written, read back equal, and written again
//! byte for byte the same (the writing is canonical).

mod manifest_gen;

use aci::manifest::{ImageManifest, PodManifest};
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn image_round_trip(m in manifest_gen::image_manifest()) {
        let bytes = m.to_vec().unwrap();
        let back = ImageManifest::from_slice(&bytes).unwrap();
        prop_assert_eq!(&back, &m);
        prop_assert_eq!(back.to_vec().unwrap(), bytes);
        let pretty = m.to_string_pretty().unwrap();
        prop_assert_eq!(ImageManifest::from_slice(pretty.as_bytes()).unwrap(), m);
    }

    #[test]
    fn pod_round_trip(p in manifest_gen::pod_manifest()) {
        let bytes = p.to_vec().unwrap();
        let back = PodManifest::from_slice(&bytes).unwrap();
        prop_assert_eq!(&back, &p);
        prop_assert_eq!(back.to_vec().unwrap(), bytes);
    }

    /// Reading is case-insensitive on struct keys: upper-casing every key of a written image
    /// manifest outside the free-form maps still reads back the same manifest.
    #[test]
    fn image_keys_any_case(m in manifest_gen::image_manifest()) {
        let mut v: serde_json::Value = serde_json::from_slice(&m.to_vec().unwrap()).unwrap();
        upper_keys(&mut v);
        let back = ImageManifest::from_slice(v.to_string().as_bytes()).unwrap();
        prop_assert_eq!(back, m);
    }
}

/// Upper-case object keys, but not inside free-form maps or isolator values.
fn upper_keys(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Object(map) => {
            let old = std::mem::take(map);
            for (k, mut val) in old {
                let free = matches!(k.as_str(), "userAnnotations" | "userLabels" | "value");
                if !free {
                    upper_keys(&mut val);
                }
                map.insert(k.to_uppercase(), val);
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(upper_keys),
        _ => {}
    }
}
