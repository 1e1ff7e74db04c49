//! The few fields of a pod manifest that `rkt list` and `rkt status` show, read straight from
//! the file with serde. The full [`PodManifest`] reader first builds a JSON tree, folds every
//! key's spelling and validates the whole document (exec lines, isolators, environment): most
//! of the time `rkt list` spent on a thousand pods.
//!
//! stage0 writes `pod` with the canonical key spellings, which is what the fast reader expects;
//! anything it cannot take (another spelling of a required key, a `null` list) goes through the
//! full reader instead, so every manifest the full reader accepts is still listed the same.

use std::collections::BTreeMap;

use aci::manifest::{Annotations, Mount, PodManifest, Volume};
use aci::types::{AcName, ImageId};
use serde::Deserialize;

/// What listing needs of a pod manifest.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PodView {
    #[serde(default)]
    pub apps: Vec<AppView>,
    #[serde(default)]
    pub volumes: Vec<Volume>,
    #[serde(default)]
    pub annotations: Annotations,
    #[serde(default)]
    pub user_annotations: BTreeMap<String, String>,
    #[serde(default)]
    pub user_labels: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AppView {
    pub name: AcName,
    pub image: ImageView,
    #[serde(default)]
    pub app: Option<AppLabels>,
    #[serde(default)]
    pub mounts: Vec<Mount>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub(crate) struct ImageView {
    pub id: ImageId,
}

/// The user annotations and labels of an app's `app` section.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AppLabels {
    #[serde(default)]
    pub user_annotations: BTreeMap<String, String>,
    #[serde(default)]
    pub user_labels: BTreeMap<String, String>,
}

impl PodView {
    /// The fast read, or None when the document needs the full reader.
    pub fn fast(bytes: &[u8]) -> Option<PodView> {
        serde_json::from_slice(bytes).ok()
    }

    /// The view of a manifest the full reader produced.
    pub fn of(m: PodManifest) -> PodView {
        PodView {
            apps: m
                .apps
                .into_iter()
                .map(|ra| AppView {
                    name: ra.name,
                    image: ImageView { id: ra.image.id },
                    app: ra.app.map(|a| AppLabels {
                        user_annotations: a.user_annotations,
                        user_labels: a.user_labels,
                    }),
                    mounts: ra.mounts,
                })
                .collect(),
            volumes: m.volumes,
            annotations: m.annotations,
            user_annotations: m.user_annotations,
            user_labels: m.user_labels,
        }
    }

    /// The pod volume called `name`.
    pub fn volume(&self, name: &str) -> Option<&Volume> {
        self.volumes.iter().find(|v| v.name.as_str() == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "sha512-0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn manifest(extra_app: &str) -> String {
        format!(
            r#"{{"acKind":"PodManifest","acVersion":"0.8.11","apps":[{{"name":"web",
            "image":{{"id":"{ID}","name":"example.com/web"}},
            "app":{{"exec":["/bin/web","-v"],"user":"0","group":"0",
                    "isolators":[{{"name":"resource/memory","value":{{"limit":"1G"}}}}],
                    "userLabels":{{"tier":"front"}}}},
            "mounts":[{{"volume":"data","path":"/data"}}]{extra_app}}}],
            "volumes":[{{"name":"data","kind":"host","source":"/srv","readOnly":true}}],
            "annotations":[{{"name":"coreos.com/rkt/stage1/mutable","value":"false"}}],
            "userAnnotations":{{"owner":"me"}}}}"#
        )
    }

    #[test]
    fn fast_read_equals_the_full_reader() {
        let text = manifest("");
        let fast = PodView::fast(text.as_bytes()).expect("canonical manifest");
        let full = PodView::of(PodManifest::from_slice(text.as_bytes()).unwrap());
        assert_eq!(fast, full);
        assert_eq!(fast.apps[0].image.id.to_string(), ID);
        assert_eq!(fast.volume("data").and_then(|v| v.read_only), Some(true));
        assert_eq!(fast.user_annotations["owner"], "me");
        assert_eq!(
            fast.apps[0].app.as_ref().unwrap().user_labels["tier"],
            "front"
        );
    }

    #[test]
    fn other_spellings_need_the_full_reader() {
        // Go's decoder (and the full reader) take any case; the fast one gives up.
        let text = manifest("").replace(r#""name":"web""#, r#""Name":"web""#);
        assert!(PodView::fast(text.as_bytes()).is_none());
        let full = PodView::of(PodManifest::from_slice(text.as_bytes()).unwrap());
        assert_eq!(full.apps[0].name.as_str(), "web");
    }

    #[test]
    fn invalid_ids_are_not_taken() {
        let text = manifest("").replace(ID, "sha512-xyz");
        assert!(PodView::fast(text.as_bytes()).is_none());
    }
}
