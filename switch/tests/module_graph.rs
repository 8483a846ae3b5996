//! The house rule that modules depend in one direction (ARCHITECTURE.md, "Dependency
//! direction"): within each crate of the workspace, no two modules import each other, directly
//! or through others. A module's use of its own ancestors' items (`super::ApiState`) is not a
//! cycle: parents reach their children only by declaring them.
//!
//! The same holds between top-level modules taken whole (a folder with everything in it).
//!
//! Reads the sources (`use crate::…` and `super::…` paths outside comments and tests); a cycle
//! is reported with the modules in it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const CRATES: [&str; 4] = ["protocol", "actors", "switch", "loadtest"];

/// Module path (`api::mypage::card`) → the source of its file, tests and comments left out.
fn modules(src: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![src.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                // Binaries are crates of their own.
                if path.file_name().is_some_and(|n| n != "bin") {
                    stack.push(path);
                }
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let rel = path.strip_prefix(src).unwrap().with_extension("");
            let mut parts: Vec<String> = rel.iter().map(|p| p.to_string_lossy().into_owned()).collect();
            if parts.last().is_some_and(|l| l == "mod" || l == "lib" || l == "main") {
                parts.pop();
            }
            out.insert(parts.join("::"), code_of(&std::fs::read_to_string(&path).unwrap()));
        }
    }
    out
}

fn code_of(text: &str) -> String {
    let text = text.split("#[cfg(test)]").next().unwrap_or_default();
    text.lines().filter(|l| !l.trim_start().starts_with("//")).collect::<Vec<_>>().join("\n")
}

/// Every `prefix::a::b…` path in `code`, as its segments.
fn paths_after<'a>(code: &'a str, prefix: &'a str) -> impl Iterator<Item = Vec<&'a str>> + 'a {
    code.match_indices(prefix).filter_map(move |(i, _)| {
        let before = code[..i].chars().next_back();
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            return None;
        }
        let rest = &code[i + prefix.len()..];
        let end = rest.find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':')).unwrap_or(rest.len());
        Some(rest[..end].split("::").filter(|s| !s.is_empty()).collect())
    })
}

fn is_within(module: &str, ancestor: &str) -> bool {
    ancestor.is_empty() || module == ancestor || module.starts_with(&format!("{ancestor}::"))
}

/// Module → the modules its code names (not its ancestors or descendants).
fn edges(modules: &BTreeMap<String, String>) -> BTreeMap<&str, BTreeSet<&str>> {
    let resolve = |base: &str, segments: &[&str]| -> Option<&str> {
        (0..=segments.len()).rev().find_map(|k| {
            let mut path: Vec<&str> = if base.is_empty() { vec![] } else { vec![base] };
            path.extend(&segments[..k]);
            modules.get_key_value(&path.join("::")).map(|(m, _)| m.as_str())
        })
    };
    let mut out = BTreeMap::new();
    for (module, code) in modules {
        let parent = module.rsplit_once("::").map_or("", |(p, _)| p);
        let named = paths_after(code, "crate::")
            .filter_map(|s| resolve("", &s))
            .chain(paths_after(code, "super::").filter_map(|s| resolve(parent, &s)));
        let targets: BTreeSet<&str> =
            named.filter(|target| !is_within(module, target) && !is_within(target, module)).collect();
        out.insert(module.as_str(), targets);
    }
    out
}

/// Strongly connected components with more than one module (Tarjan).
fn cycles<'a>(edges: &BTreeMap<&'a str, BTreeSet<&'a str>>) -> Vec<Vec<&'a str>> {
    struct Search<'a, 'b> {
        edges: &'b BTreeMap<&'a str, BTreeSet<&'a str>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        found: Vec<Vec<&'a str>>,
    }
    impl<'a> Search<'a, '_> {
        fn visit(&mut self, v: &'a str) {
            let i = self.index.len();
            self.index.insert(v, i);
            self.low.insert(v, i);
            self.stack.push(v);
            for &w in self.edges.get(v).into_iter().flatten() {
                if !self.index.contains_key(w) {
                    self.visit(w);
                    self.low.insert(v, self.low[v].min(self.low[w]));
                } else if self.stack.contains(&w) {
                    self.low.insert(v, self.low[v].min(self.index[w]));
                }
            }
            if self.low[v] == self.index[v] {
                let at = self.stack.iter().rposition(|m| *m == v).unwrap();
                let component: Vec<&str> = self.stack.split_off(at);
                if component.len() > 1 {
                    self.found.push(component);
                }
            }
        }
    }
    let mut search =
        Search { edges, index: BTreeMap::new(), low: BTreeMap::new(), stack: Vec::new(), found: Vec::new() };
    for &v in edges.keys() {
        if !search.index.contains_key(v) {
            search.visit(v);
        }
    }
    search.found
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// The same graph between the crate's top-level modules (a folder and everything in it as one):
/// `config` may build the store's settings, but then nothing under `store` may read `config`.
fn top_level<'a>(edges: &BTreeMap<&'a str, BTreeSet<&'a str>>) -> BTreeMap<&'a str, BTreeSet<&'a str>> {
    let top = |m: &'a str| m.split("::").next().unwrap_or(m);
    let mut out: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for (from, targets) in edges {
        let entry = out.entry(top(from)).or_default();
        entry.extend(targets.iter().map(|t| top(t)).filter(|t| *t != top(from)));
    }
    out
}

#[test]
fn no_module_imports_another_that_imports_it_back() {
    let mut found = Vec::new();
    for krate in CRATES {
        let modules = modules(&workspace().join(krate).join("src"));
        assert!(modules.len() > 3, "{krate}: sources not found");
        let edges = edges(&modules);
        for cycle in cycles(&edges).into_iter().chain(cycles(&top_level(&edges))) {
            found.push(format!("{krate}: {}", cycle.join(" → ")));
        }
    }
    assert!(found.is_empty(), "import cycles:\n{}", found.join("\n"));
}

#[test]
fn the_check_finds_a_cycle_and_ignores_ancestors() {
    let modules: BTreeMap<String, String> = [
        ("a", "use crate::b::X;"),
        ("b", "use crate::c::Y;"),
        ("c", "use crate::a::Z; // use crate::d::W;"),
        ("d", "use crate::d::inner::V;"),
        ("d::inner", "use super::V;"),
    ]
    .into_iter()
    .map(|(m, c)| (m.to_owned(), code_of(c)))
    .collect();
    let mut found = cycles(&edges(&modules));
    found.iter_mut().for_each(|c| c.sort());
    assert_eq!(found, vec![vec!["a", "b", "c"]]);
    // `config` names `store::postgres`, and `store` names `config`: no two modules import each
    // other, but the folder and `config` do.
    let modules: BTreeMap<String, String> =
        [("config", "use crate::store::postgres::S;"), ("store", "use crate::config::C;"), ("store::postgres", "")]
            .into_iter()
            .map(|(m, c)| (m.to_owned(), code_of(c)))
            .collect();
    let edges = edges(&modules);
    assert!(cycles(&edges).is_empty());
    let mut found = cycles(&top_level(&edges));
    found.iter_mut().for_each(|c| c.sort());
    assert_eq!(found, vec![vec!["config", "store"]]);
}
