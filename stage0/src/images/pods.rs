//! Which images and trees the pods on disk use, read straight from the pod directories
//! (`<data>/pods/<state>/<uuid>/`): the pod manifest's `apps[].image.id`, the stage1 tree in
//! `stage1TreeStoreID` and each app's tree in `appsinfo/<app>/treeStoreID`. A tree's image is
//! read from the tree's `image` file, so the stage1 image counts as used too.
//!
//! Reading is tolerant: missing state dirs, pods without a manifest yet (embryos) and
//! unreadable files are skipped, so one broken pod never blocks `image rm` or `image gc`.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use super::key_of;

/// States whose pods still need their images: being set up, set up, or running.
pub const ACTIVE_STATES: [&str; 4] = ["embryo", "prepare", "prepared", "run"];
/// States whose pods may still have their trees mounted (exited pods awaiting `rkt gc`).
pub const TREE_STATES: [&str; 5] = ["embryo", "prepare", "prepared", "run", "exited-garbage"];

/// Image keys and tree IDs, each with the UUIDs of the pods that use it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PodRefs {
    pub images: BTreeMap<String, Vec<String>>,
    pub trees: BTreeMap<String, Vec<String>>,
}

/// The images that pods being prepared, prepared or running use: key → pod UUIDs.
pub fn images_in_use(data_dir: &Path) -> BTreeMap<String, Vec<String>> {
    pod_refs(data_dir, &ACTIVE_STATES).images
}

/// What the pods in `states` reference.
pub fn pod_refs(data_dir: &Path, states: &[&str]) -> PodRefs {
    let mut refs = PodRefs::default();
    for state in states {
        let Ok(entries) = fs::read_dir(data_dir.join("pods").join(state)) else {
            continue;
        };
        for entry in entries.flatten() {
            let uuid = entry.file_name().to_string_lossy().into_owned();
            pod_refs_one(data_dir, &entry.path(), &uuid, &mut refs);
        }
    }
    for pods in refs.images.values_mut().chain(refs.trees.values_mut()) {
        pods.sort();
        pods.dedup();
    }
    refs
}

fn pod_refs_one(data_dir: &Path, pod: &Path, uuid: &str, refs: &mut PodRefs) {
    let add = |map: &mut BTreeMap<String, Vec<String>>, key: String| {
        map.entry(key).or_default().push(uuid.to_string());
    };
    for key in manifest_images(&pod.join("pod")) {
        add(&mut refs.images, key);
    }
    let mut trees = Vec::new();
    trees.extend(read_id(&pod.join("stage1TreeStoreID")));
    if let Ok(apps) = fs::read_dir(pod.join("appsinfo")) {
        for app in apps.flatten() {
            trees.extend(read_id(&app.path().join("treeStoreID")));
            // OCI images: every layer tree the app's overlay stacks.
            if let Ok(ids) = fs::read_to_string(app.path().join("treeStoreIDs")) {
                trees.extend(
                    ids.lines()
                        .map(str::trim)
                        .filter(|l| !l.is_empty())
                        .map(String::from),
                );
            }
        }
    }
    for tree in trees {
        let image_file = data_dir.join("cas/tree").join(&tree).join("image");
        if let Some(key) = read_id(&image_file).and_then(|k| key_of(&k)) {
            add(&mut refs.images, key);
        }
        add(&mut refs.trees, tree);
    }
}

/// The store keys of `apps[].image.id` in a pod manifest; nothing when it is absent or bad.
fn manifest_images(path: &Path) -> Vec<String> {
    let Ok(bytes) = fs::read(path) else {
        return Vec::new();
    };
    let Ok(json) = serde_json::from_slice::<serde_json::Value>(&bytes) else {
        return Vec::new();
    };
    let Some(apps) = json.get("apps").and_then(|a| a.as_array()) else {
        return Vec::new();
    };
    apps.iter()
        .filter_map(|app| app.pointer("/image/id")?.as_str())
        .filter_map(key_of)
        .collect()
}

/// A one-line ID file (tree IDs, image keys), trimmed; None when missing, empty or not a name.
fn read_id(path: &Path) -> Option<String> {
    let text = fs::read_to_string(path).ok()?;
    let id = text.trim();
    let plain = !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    plain.then(|| id.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(path: &Path, body: &str) {
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, body).unwrap();
    }

    #[test]
    fn reads_manifests_and_tree_ids() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let img = format!("sha512-{}", "1".repeat(128));
        let key = key_of(&img).unwrap();
        let stage1 = format!("sha512-{}", "2".repeat(64));
        let manifest =
            format!(r#"{{"acKind":"PodManifest","apps":[{{"image":{{"id":"{img}"}}}}]}}"#);
        write(&d.join("pods/prepared/u1/pod"), &manifest);
        write(&d.join("pods/run/u2/pod"), &manifest);
        write(&d.join("pods/run/u2/stage1TreeStoreID"), "deps-sha512-aa\n");
        write(&d.join("cas/tree/deps-sha512-aa/image"), &stage1);
        write(
            &d.join("pods/run/u2/appsinfo/app/treeStoreID"),
            "deps-sha512-bb",
        );
        write(&d.join("pods/exited-garbage/u3/pod"), &manifest);
        write(
            &d.join("pods/exited-garbage/u3/stage1TreeStoreID"),
            "deps-sha512-cc",
        );
        write(&d.join("pods/prepare/u4/pod"), "not json");

        let used = images_in_use(d);
        assert_eq!(
            used.get(&key).unwrap(),
            &vec!["u1".to_string(), "u2".into()]
        );
        assert_eq!(used.get(&stage1).unwrap(), &vec!["u2".to_string()]);
        assert_eq!(used.len(), 2);

        let refs = pod_refs(d, &TREE_STATES);
        let trees: Vec<_> = refs.trees.keys().cloned().collect();
        assert_eq!(
            trees,
            ["deps-sha512-aa", "deps-sha512-bb", "deps-sha512-cc"]
        );
    }

    #[test]
    fn missing_pods_dir_is_empty() {
        let dir = tempfile::tempdir().unwrap();
        assert!(images_in_use(dir.path()).is_empty());
    }
}
