//! The layering rule, checked: reads the `crate::…` paths of every module
//! under `src/` and fails when a module names one in a higher layer of
//! [`crate::LAYERS`], when two modules of one layer name each other (a
//! cycle), or when a top-level module has no layer.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Root re-exports, by the module they come from.
const ROOT_ITEMS: &[(&str, &str)] = &[("Ctx", "context"), ("ErrorCode", "error"), ("ServiceError", "error")];
/// Test-only modules, outside the layers.
const EXEMPT: &[&str] = &["layer_check"];

fn layer_of(module: &str) -> Option<usize> {
    crate::LAYERS.iter().position(|layer| layer.contains(&module))
}

/// The code of a file without comments and without its unit tests.
fn code(text: &str) -> String {
    let text = text.split("#[cfg(test)]").next().unwrap_or_default();
    text.lines().map(|l| l.split("//").next().unwrap_or_default()).collect::<Vec<_>>().join("\n")
}

/// The top-level modules named by `crate::x` paths and `crate::{x, y}` groups.
fn named(code: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = code;
    while let Some(i) = rest.find("crate::") {
        rest = &rest[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            for part in group[..end].split(',') {
                let name: String = part.trim().chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
                out.insert(name);
            }
        } else {
            out.insert(rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect());
        }
    }
    out.into_iter()
        .map(|n| ROOT_ITEMS.iter().find(|(item, _)| *item == n).map_or(n.clone(), |(_, m)| m.to_string()))
        .collect()
}

/// Every edge `module → module` of the crate, with a file that makes it.
fn edges(src: &Path) -> BTreeMap<(String, String), String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![src.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let rel = path.strip_prefix(src).unwrap();
            let top =
                rel.components().next().unwrap().as_os_str().to_string_lossy().trim_end_matches(".rs").to_string();
            if top == "lib" || EXEMPT.contains(&top.as_str()) {
                continue;
            }
            for to in named(&code(&std::fs::read_to_string(&path).unwrap())) {
                if to != top && layer_of(&to).is_some() {
                    out.entry((top.clone(), to)).or_insert_with(|| rel.display().to_string());
                }
            }
        }
    }
    out
}

#[test]
fn no_module_names_a_higher_layer_and_no_layer_has_a_cycle() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut problems = Vec::new();
    for entry in std::fs::read_dir(&src).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().trim_end_matches(".rs").to_string();
        if name != "lib" && !EXEMPT.contains(&name.as_str()) && layer_of(&name).is_none() {
            problems.push(format!("module {name} has no layer in LAYERS"));
        }
    }
    let edges = edges(&src);
    for ((from, to), file) in &edges {
        let (Some(a), Some(b)) = (layer_of(from), layer_of(to)) else { continue };
        if b > a {
            problems.push(format!("{from} (layer {}) names {to} (layer {}) in {file}", a + 1, b + 1));
        }
        if a == b && edges.contains_key(&(to.clone(), from.clone())) && from < to {
            problems.push(format!("{from} and {to} name each other ({file})"));
        }
    }
    assert!(problems.is_empty(), "layering broken:\n{}", problems.join("\n"));
}

#[test]
fn the_checker_sees_paths_groups_and_root_items() {
    let c = code("use crate::db::x;\nuse crate::{jobs, queue::Y};\nfn f(_: &crate::Ctx) {} // crate::services\n");
    let n = named(&c);
    assert!(n.contains("db") && n.contains("jobs") && n.contains("queue") && n.contains("context"), "{n:?}");
    assert!(!n.contains("services"), "comments are left out: {n:?}");
}
