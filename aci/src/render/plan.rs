//! The order in which an image and its dependencies are laid down (appc.md §4).
//!
//! Dependencies are walked depth-first in list order; a dependency's layers come before the
//! image that lists it, so the result is the override order, lowest first: for `A→[B,C],
//! C→[D]` it is B, D, C, A. A dependency shared by two paths appears once per path, each time
//! with the whitelists of the images above it on that path.

use std::fmt::Debug;
use std::hash::Hash;

use super::RenderError;

/// Longest dependency chain accepted (T15: a deep chain must stop at a limit).
pub const MAX_DEPTH: usize = 64;
/// Most layers a plan may hold: shared dependencies repeat per path, so a small hostile DAG
/// could otherwise expand exponentially.
pub const MAX_LAYERS: usize = 1024;

/// One layer of a render plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedLayer<K> {
    pub key: K,
    /// The non-empty `pathWhitelist`s that filter this layer: its own first, then those of the
    /// images above it on this path, up to the root image.
    pub whitelists: Vec<Vec<String>>,
}

/// What `deps_of` returns for one image: its dependencies in manifest order and its own
/// `pathWhitelist` (empty when it has none).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageDeps<K> {
    pub deps: Vec<K>,
    pub whitelist: Vec<String>,
}

/// The override order of `root` and its dependencies, lowest first.
pub fn render_order<K: Clone + Eq + Hash + Debug>(
    root: K,
    mut deps_of: impl FnMut(&K) -> Result<Vec<K>, RenderError>,
) -> Result<Vec<K>, RenderError> {
    let plan = render_plan(root, |k| {
        Ok(ImageDeps {
            deps: deps_of(k)?,
            whitelist: Vec::new(),
        })
    })?;
    Ok(plan.into_iter().map(|l| l.key).collect())
}

/// Like [`render_order`], with each layer's effective whitelist chain. Reverse the result to
/// get the top-first order that [`super::render`] takes.
pub fn render_plan<K: Clone + Eq + Hash + Debug>(
    root: K,
    mut deps_of: impl FnMut(&K) -> Result<ImageDeps<K>, RenderError>,
) -> Result<Vec<PlannedLayer<K>>, RenderError> {
    let mut walk = Walk {
        deps_of: &mut deps_of,
        stack: Vec::new(),
        out: Vec::new(),
    };
    walk.visit(root, &[])?;
    Ok(walk.out)
}

struct Walk<'f, K> {
    deps_of: &'f mut dyn FnMut(&K) -> Result<ImageDeps<K>, RenderError>,
    /// Images on the current path from the root, for cycle detection and error messages.
    stack: Vec<K>,
    out: Vec<PlannedLayer<K>>,
}

impl<K: Clone + Eq + Hash + Debug> Walk<'_, K> {
    /// `above`: the non-empty whitelists of the images above `key`, nearest first.
    fn visit(&mut self, key: K, above: &[Vec<String>]) -> Result<(), RenderError> {
        if self.stack.contains(&key) {
            let mut chain: Vec<String> = self.stack.iter().map(|k| format!("{k:?}")).collect();
            chain.push(format!("{key:?}"));
            return Err(RenderError::Cycle { chain });
        }
        if self.stack.len() >= MAX_DEPTH {
            let chain = self.stack.iter().map(|k| format!("{k:?}")).collect();
            return Err(RenderError::TooDeep {
                limit: MAX_DEPTH,
                chain,
            });
        }
        let ImageDeps { deps, whitelist } = (self.deps_of)(&key)?;
        let mut whitelists = Vec::with_capacity(above.len() + 1);
        if !whitelist.is_empty() {
            whitelists.push(whitelist);
        }
        whitelists.extend(above.iter().cloned());
        self.stack.push(key.clone());
        for dep in deps {
            self.visit(dep, &whitelists)?;
        }
        self.stack.pop();
        if self.out.len() >= MAX_LAYERS {
            return Err(RenderError::TooManyLayers {
                limit: MAX_LAYERS,
                image: format!("{key:?}"),
            });
        }
        self.out.push(PlannedLayer { key, whitelists });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn graph(
        edges: &[(&'static str, &[&'static str])],
    ) -> HashMap<&'static str, Vec<&'static str>> {
        edges.iter().map(|(k, v)| (*k, v.to_vec())).collect()
    }

    fn order(
        g: &HashMap<&'static str, Vec<&'static str>>,
        root: &'static str,
    ) -> Result<Vec<&'static str>, RenderError> {
        render_order(root, |k| Ok(g.get(k).cloned().unwrap_or_default()))
    }

    #[test]
    fn spec_examples() {
        let g = graph(&[("A", &["B", "C"]), ("C", &["D"])]);
        assert_eq!(order(&g, "A").unwrap(), ["B", "D", "C", "A"]);
        let g = graph(&[("A", &["B", "C"]), ("B", &["D"]), ("C", &["D"])]);
        assert_eq!(order(&g, "A").unwrap(), ["D", "B", "D", "C", "A"]);
        assert_eq!(order(&g, "D").unwrap(), ["D"]);
    }

    #[test]
    fn cycles_are_named() {
        let g = graph(&[("A", &["B"]), ("B", &["C"]), ("C", &["A"])]);
        match order(&g, "A") {
            Err(RenderError::Cycle { chain }) => {
                assert_eq!(chain, ["\"A\"", "\"B\"", "\"C\"", "\"A\""])
            }
            other => panic!("expected a cycle, got {other:?}"),
        }
        let g = graph(&[("A", &["A"])]);
        assert!(matches!(order(&g, "A"), Err(RenderError::Cycle { .. })));
    }

    #[test]
    fn depth_and_size_limits() {
        let deep = render_order(0u32, |k| Ok(vec![k + 1]));
        assert!(matches!(
            deep,
            Err(RenderError::TooDeep {
                limit: MAX_DEPTH,
                ..
            })
        ));
        let ok = render_order(0u32, |k| Ok(if *k < 10 { vec![k + 1] } else { vec![] })).unwrap();
        assert_eq!(ok, (0..=10).rev().collect::<Vec<_>>());
        // A diamond ladder: every level doubles the number of paths.
        let wide = render_order((0u32, 0u32), |&(lvl, _)| {
            Ok(if lvl < 20 {
                vec![(lvl + 1, 0), (lvl + 1, 1)]
            } else {
                vec![]
            })
        });
        assert!(matches!(wide, Err(RenderError::TooManyLayers { .. })));
    }

    #[test]
    fn whitelist_chains_follow_the_path() {
        let wl: HashMap<&str, Vec<String>> =
            [("A", vec!["/a".to_string()]), ("C", vec!["/c".to_string()])]
                .into_iter()
                .collect();
        let g = graph(&[("A", &["B", "C"]), ("B", &["D"]), ("C", &["D"])]);
        let plan = render_plan("A", |k| {
            Ok(ImageDeps {
                deps: g.get(k).cloned().unwrap_or_default(),
                whitelist: wl.get(k).cloned().unwrap_or_default(),
            })
        })
        .unwrap();
        let got: Vec<(&str, Vec<Vec<String>>)> =
            plan.into_iter().map(|l| (l.key, l.whitelists)).collect();
        let a = vec!["/a".to_string()];
        let c = vec!["/c".to_string()];
        assert_eq!(
            got,
            vec![
                ("D", vec![a.clone()]),
                ("B", vec![a.clone()]),
                ("D", vec![c.clone(), a.clone()]),
                ("C", vec![c.clone(), a.clone()]),
                ("A", vec![a.clone()]),
            ]
        );
    }
}
