//! Go-style key matching: before decoding, rename each JSON object key that names a struct field
//! (ignoring ASCII case) to the field's canonical spelling, drop `null` fields (Go leaves the
//! field at its zero value) and unknown keys (Go ignores them). The walk follows a static schema,
//! so free-form maps and isolator values are left exactly as written, and its depth is bounded
//! by the schema, not by the input.

use serde_json::{Map, Value};

use super::{ManifestError, index, join};

/// The shape of a JSON value as far as key folding cares.
pub(crate) enum Shape {
    /// Anything whose keys must not be touched (scalars, free-form maps, isolator values).
    Leaf,
    /// A list of values of one shape.
    List(&'static Shape),
    /// A struct: canonical field names and their shapes.
    Obj(&'static [(&'static str, &'static Shape)]),
}

use Shape::{Leaf, List, Obj};

static LEAF: Shape = Leaf;
static NAME_VALUE: Shape = Obj(&[("name", &LEAF), ("value", &LEAF)]);
/// Labels, annotations, environment and isolators all are `[{name, value}]`.
static NAME_VALUES: Shape = List(&NAME_VALUE);
static EVENT_HANDLER: Shape = Obj(&[("name", &LEAF), ("exec", &LEAF)]);
static MOUNT_POINT: Shape = Obj(&[("name", &LEAF), ("path", &LEAF), ("readOnly", &LEAF)]);
static PORT: Shape = Obj(&[
    ("name", &LEAF),
    ("protocol", &LEAF),
    ("port", &LEAF),
    ("count", &LEAF),
    ("socketActivated", &LEAF),
]);
static APP: Shape = Obj(&[
    ("exec", &LEAF),
    ("eventHandlers", &List(&EVENT_HANDLER)),
    ("user", &LEAF),
    ("group", &LEAF),
    ("supplementaryGIDs", &LEAF),
    ("workingDirectory", &LEAF),
    ("environment", &NAME_VALUES),
    ("mountPoints", &List(&MOUNT_POINT)),
    ("ports", &List(&PORT)),
    ("isolators", &NAME_VALUES),
    ("userAnnotations", &LEAF),
    ("userLabels", &LEAF),
]);
static DEPENDENCY: Shape = Obj(&[
    ("imageName", &LEAF),
    ("imageID", &LEAF),
    ("labels", &NAME_VALUES),
    ("size", &LEAF),
]);

pub(crate) static IMAGE: Shape = Obj(&[
    ("acKind", &LEAF),
    ("acVersion", &LEAF),
    ("name", &LEAF),
    ("labels", &NAME_VALUES),
    ("app", &APP),
    ("annotations", &NAME_VALUES),
    ("dependencies", &List(&DEPENDENCY)),
    ("pathWhitelist", &LEAF),
]);

static VOLUME: Shape = Obj(&[
    ("name", &LEAF),
    ("kind", &LEAF),
    ("source", &LEAF),
    ("readOnly", &LEAF),
    ("recursive", &LEAF),
    ("mode", &LEAF),
    ("uid", &LEAF),
    ("gid", &LEAF),
]);
static MOUNT: Shape = Obj(&[("volume", &LEAF), ("path", &LEAF), ("appVolume", &VOLUME)]);
static RUNTIME_IMAGE: Shape = Obj(&[("name", &LEAF), ("id", &LEAF), ("labels", &NAME_VALUES)]);
static RUNTIME_APP: Shape = Obj(&[
    ("name", &LEAF),
    ("image", &RUNTIME_IMAGE),
    ("app", &APP),
    ("readOnlyRootFS", &LEAF),
    ("mounts", &List(&MOUNT)),
    ("annotations", &NAME_VALUES),
]);
static EXPOSED_PORT: Shape = Obj(&[
    ("name", &LEAF),
    ("hostPort", &LEAF),
    ("hostIP", &LEAF),
    ("podPort", &PORT),
]);

pub(crate) static POD: Shape = Obj(&[
    ("acVersion", &LEAF),
    ("acKind", &LEAF),
    ("apps", &List(&RUNTIME_APP)),
    ("volumes", &List(&VOLUME)),
    ("isolators", &NAME_VALUES),
    ("annotations", &NAME_VALUES),
    ("ports", &List(&EXPOSED_PORT)),
    ("userAnnotations", &LEAF),
    ("userLabels", &LEAF),
]);

/// Rewrite `v` in place so its struct keys have canonical spelling. A value of the wrong JSON
/// type is left alone for the decoder to report with its path.
pub(crate) fn fold_keys(
    v: &mut Value,
    shape: &'static Shape,
    path: &str,
) -> Result<(), ManifestError> {
    match (shape, v) {
        (Leaf, _) => Ok(()),
        (List(item), Value::Array(items)) => {
            for (i, it) in items.iter_mut().enumerate() {
                fold_keys(it, item, &index(path, i))?;
            }
            Ok(())
        }
        (Obj(fields), Value::Object(map)) => fold_object(map, fields, path),
        _ => Ok(()),
    }
}

fn fold_object(
    map: &mut Map<String, Value>,
    fields: &'static [(&'static str, &'static Shape)],
    path: &str,
) -> Result<(), ManifestError> {
    let old = std::mem::take(map);
    // Which input key set each canonical field, to report collisions by their spellings.
    let mut given: Vec<(&'static str, String)> = Vec::new();
    for (key, mut val) in old {
        let found = fields.iter().find(|(name, _)| *name == key).or_else(|| {
            fields
                .iter()
                .find(|(name, _)| name.eq_ignore_ascii_case(&key))
        });
        let Some((name, sub)) = found else { continue };
        if let Some((_, first)) = given.iter().find(|(n, _)| n == name) {
            return Err(ManifestError::DuplicateKey {
                path: path.to_string(),
                field: name,
                first: first.clone(),
                second: key,
            });
        }
        given.push((name, key));
        if val.is_null() {
            continue;
        }
        fold_keys(&mut val, sub, &join(path, name))?;
        map.insert((*name).to_string(), val);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn renames_struct_keys_only() {
        let mut v = json!({
            "ACKind": "ImageManifest",
            "App": {"supplementaryGids": [1], "USER": "0", "userLabels": {"Mixed": "V"},
                    "isolators": [{"NAME": "x", "Value": {"Limit": "1"}}]},
            "unknown": 1,
            "labels": null,
        });
        fold_keys(&mut v, &IMAGE, "").unwrap();
        assert_eq!(
            v,
            json!({
                "acKind": "ImageManifest",
                "app": {"supplementaryGIDs": [1], "user": "0", "userLabels": {"Mixed": "V"},
                        "isolators": [{"name": "x", "value": {"Limit": "1"}}]},
            })
        );
    }

    #[test]
    fn collision_is_an_error() {
        let mut v = json!({"apps": [{"name": "a", "NAME": "b"}]});
        let e = fold_keys(&mut v, &POD, "").unwrap_err();
        assert_eq!(e.path(), "apps[0]");
        assert!(matches!(
            e,
            ManifestError::DuplicateKey { field: "name", .. }
        ));
    }

    #[test]
    fn exact_spelling_is_kept_for_nested_pod_fields() {
        let mut v = json!({"apps": [{"image": {"ID": "x"}, "readonlyrootfs": true,
                                      "mounts": [{"AppVolume": {"Kind": "empty"}}]}],
                           "ports": [{"hostip": "1.2.3.4", "podport": {"Port": 1}}]});
        fold_keys(&mut v, &POD, "").unwrap();
        assert_eq!(
            v,
            json!({"apps": [{"image": {"id": "x"}, "readOnlyRootFS": true,
                              "mounts": [{"appVolume": {"kind": "empty"}}]}],
                   "ports": [{"hostIP": "1.2.3.4", "podPort": {"port": 1}}]})
        );
    }
}
