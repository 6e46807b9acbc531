//! `cargo xtask c-free`: the normal dependency graph of every library crate is pure Rust.
//!
//! Reads `cargo metadata --filter-platform x86_64-unknown-linux-gnu` and walks the
//! resolve graph from each library crate along normal edges only (dev and build edges
//! are not followed). A reached package fails the check when it is `libc`, declares a
//! `links` key (it links a native library), or has a build dependency on `cc`, `cmake`
//! or `bindgen` (it compiles C). `linux-raw-sys` is pure Rust and passes.
//!
//! `cargo metadata` lists an edge whenever some declared dependency could produce it,
//! even one that is optional and off, or one under a `cfg(...)` that this target does not
//! satisfy (rustix's libc backend shows up that way). So an edge is followed only when a
//! matching declaration is active: its `cfg` holds for the target (evaluated against
//! `rustc --print cfg`, unknown names false, as cargo does) and it is either not optional
//! or enabled by the package's resolved features. An edge with no matching declaration
//! is followed (the conservative answer).
//!
//! Library crates are the workspace members under `crates/`, except a package that opts
//! out with `[package.metadata.shoal] allow-c = "reason"` (the statsd daemon binary).

use std::collections::{HashMap, VecDeque};

use serde_json::Value;

/// Build-time tools that mean "this package compiles C".
const C_BUILD_TOOLS: &[&str] = &["cc", "cmake", "bindgen"];

/// One offending package and how a library crate reaches it.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Violation {
    pub(crate) path: Vec<String>,
    pub(crate) reason: String,
}

/// Checks a `cargo metadata` document. Returns the list of library crates checked, or
/// every violation found.
pub(crate) fn check(
    metadata: &Value,
    target_cfg: &[String],
) -> Result<Vec<String>, Vec<Violation>> {
    let packages: HashMap<&str, &Value> = metadata["packages"]
        .as_array()
        .map(|pkgs| {
            pkgs.iter()
                .filter_map(|p| Some((p["id"].as_str()?, p)))
                .collect()
        })
        .unwrap_or_default();
    let nodes: HashMap<&str, &Value> = metadata["resolve"]["nodes"]
        .as_array()
        .map(|nodes| {
            nodes
                .iter()
                .filter_map(|n| Some((n["id"].as_str()?, n)))
                .collect()
        })
        .unwrap_or_default();
    let root = metadata["workspace_root"].as_str().unwrap_or_default();
    let crates_dir = format!("{root}/crates/");

    let mut libraries = Vec::new();
    let mut violations = Vec::new();
    let members = metadata["workspace_members"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for member in members.iter().filter_map(Value::as_str) {
        let Some(pkg) = packages.get(member) else {
            continue;
        };
        let in_crates = pkg["manifest_path"]
            .as_str()
            .is_some_and(|p| p.starts_with(&crates_dir));
        let opted_out = !pkg["metadata"]["shoal"]["allow-c"].is_null();
        if !in_crates || opted_out {
            continue;
        }
        libraries.push(name(pkg).to_owned());
        violations.extend(walk(member, &packages, &nodes, target_cfg));
    }
    if violations.is_empty() {
        Ok(libraries)
    } else {
        Err(violations)
    }
}

/// Breadth-first walk along normal edges from `start`; reports each bad package once,
/// with the shortest path that reaches it.
fn walk(
    start: &str,
    packages: &HashMap<&str, &Value>,
    nodes: &HashMap<&str, &Value>,
    target_cfg: &[String],
) -> Vec<Violation> {
    let mut parent: HashMap<&str, &str> = HashMap::new();
    let mut queue = VecDeque::from([start]);
    let mut seen = vec![start];
    let mut found = Vec::new();
    while let Some(id) = queue.pop_front() {
        let Some(pkg) = packages.get(id) else {
            continue;
        };
        if let Some(reason) = offence(pkg, nodes.get(id).copied(), packages) {
            let mut path = vec![name(pkg).to_owned()];
            let mut cur = id;
            while let Some(&up) = parent.get(cur) {
                path.push(packages.get(up).map_or(up, |p| name(p)).to_owned());
                cur = up;
            }
            path.reverse();
            found.push(Violation { path, reason });
        }
        let Some(node) = nodes.get(id) else { continue };
        for dep in node["deps"].as_array().into_iter().flatten() {
            let Some(dep_id) = dep["pkg"].as_str() else {
                continue;
            };
            if seen.contains(&dep_id) || !is_active_normal_edge(pkg, node, dep, target_cfg) {
                continue;
            }
            seen.push(dep_id);
            parent.insert(dep_id, id);
            queue.push_back(dep_id);
        }
    }
    found
}

fn offence(pkg: &Value, node: Option<&Value>, packages: &HashMap<&str, &Value>) -> Option<String> {
    if name(pkg) == "libc" {
        return Some("is libc".to_owned());
    }
    if let Some(links) = pkg["links"].as_str() {
        return Some(format!("links the native library `{links}`"));
    }
    let node = node?;
    for dep in node["deps"].as_array().into_iter().flatten() {
        let is_build = dep["dep_kinds"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|k| k["kind"].as_str() == Some("build"));
        let dep_name = dep["pkg"]
            .as_str()
            .and_then(|id| packages.get(id))
            .map(|p| name(p));
        if let Some(tool) = dep_name.filter(|n| is_build && C_BUILD_TOOLS.contains(n)) {
            return Some(format!("has a build dependency on `{tool}` (compiles C)"));
        }
    }
    None
}

/// Whether the edge `dep` of package `pkg` (resolve node `node`) is a normal dependency
/// that is really compiled for the target: see the module documentation.
fn is_active_normal_edge(pkg: &Value, node: &Value, dep: &Value, target_cfg: &[String]) -> bool {
    let edge_name = dep["name"].as_str().unwrap_or_default();
    let features: Vec<&str> = node["features"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let declared: Vec<&Value> = pkg["dependencies"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|d| d["kind"].is_null() && extern_name(d) == edge_name)
        .collect();
    dep["dep_kinds"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|k| k["kind"].is_null())
        .any(|kind| {
            let target = kind["target"].as_str();
            if target.is_some_and(|t| !cfg_matches(t, target_cfg)) {
                return false;
            }
            let same_target: Vec<&&Value> = declared
                .iter()
                .filter(|d| d["target"].as_str() == target)
                .collect();
            same_target.is_empty()
                || same_target.iter().any(|d| {
                    let local = d["rename"]
                        .as_str()
                        .or(d["name"].as_str())
                        .unwrap_or_default();
                    !d["optional"].as_bool().unwrap_or(false)
                        || features
                            .iter()
                            .any(|f| *f == local || f.strip_prefix("dep:") == Some(local))
                })
        })
}

/// The name the dependent crate uses for a declared dependency, as `cargo metadata`
/// writes it on resolve edges (dashes become underscores).
fn extern_name(declared: &Value) -> String {
    declared["rename"]
        .as_str()
        .or(declared["name"].as_str())
        .unwrap_or_default()
        .replace('-', "_")
}

/// Evaluates a platform spec (`cfg(...)` or a bare target triple) against the target's
/// `rustc --print cfg` lines (`unix`, `target_os="linux"`, ...).
pub(crate) fn cfg_matches(spec: &str, target_cfg: &[String]) -> bool {
    match spec.strip_prefix("cfg(").and_then(|s| s.strip_suffix(')')) {
        Some(expr) => {
            let tokens = tokenize(expr);
            let mut pos = 0;
            eval(&tokens, &mut pos, target_cfg)
        }
        None => spec == crate::tasks::HOST,
    }
}

fn tokenize(expr: &str) -> Vec<String> {
    let mut tokens = Vec::new();
    let mut chars = expr.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
        } else if "(),=".contains(c) {
            tokens.push(c.to_string());
            chars.next();
        } else if c == '"' {
            chars.next();
            let mut lit = String::from('"');
            for c in chars.by_ref() {
                lit.push(c);
                if c == '"' {
                    break;
                }
            }
            tokens.push(lit);
        } else {
            let mut ident = String::new();
            while let Some(&c) = chars.peek() {
                if c.is_alphanumeric() || c == '_' {
                    ident.push(c);
                    chars.next();
                } else {
                    break;
                }
            }
            if ident.is_empty() {
                chars.next();
            } else {
                tokens.push(ident);
            }
        }
    }
    tokens
}

fn eval(tokens: &[String], pos: &mut usize, target_cfg: &[String]) -> bool {
    let Some(head) = tokens.get(*pos).cloned() else {
        return false;
    };
    *pos += 1;
    if matches!(head.as_str(), "all" | "any" | "not") && tokens.get(*pos).is_some_and(|t| t == "(")
    {
        *pos += 1;
        let mut values = Vec::new();
        while tokens.get(*pos).is_some_and(|t| t != ")") {
            values.push(eval(tokens, pos, target_cfg));
            if tokens.get(*pos).is_some_and(|t| t == ",") {
                *pos += 1;
            }
        }
        *pos += 1; // the closing ")"
        return match head.as_str() {
            "all" => values.iter().all(|v| *v),
            "any" => values.iter().any(|v| *v),
            _ => !values.first().copied().unwrap_or(false),
        };
    }
    if tokens.get(*pos).is_some_and(|t| t == "=") {
        let value = tokens.get(*pos + 1).cloned().unwrap_or_default();
        *pos += 2;
        return target_cfg.contains(&format!("{head}={value}"));
    }
    target_cfg.contains(&head)
}

fn name(pkg: &Value) -> &str {
    pkg["name"].as_str().unwrap_or("?")
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::{cfg_matches, check};

    fn linux() -> Vec<String> {
        [
            "unix",
            "target_os=\"linux\"",
            "target_arch=\"x86_64\"",
            "target_pointer_width=\"64\"",
        ]
        .map(String::from)
        .to_vec()
    }

    #[test]
    fn cfg_expressions_evaluate_like_cargo() {
        let cfg = linux();
        assert!(cfg_matches("cfg(unix)", &cfg));
        assert!(!cfg_matches("cfg(windows)", &cfg));
        assert!(cfg_matches(
            "cfg(all(not(miri), target_os = \"linux\", any(target_arch = \"arm\", all(target_arch = \"x86_64\", target_pointer_width = \"64\"))))",
            &cfg
        ));
        assert!(!cfg_matches(
            "cfg(any(rustix_use_libc, miri, not(target_os = \"linux\")))",
            &cfg
        ));
        assert!(cfg_matches("x86_64-unknown-linux-gnu", &cfg));
        assert!(!cfg_matches("aarch64-apple-darwin", &cfg));
    }

    #[test]
    fn inactive_optional_and_other_platform_edges_are_not_followed() {
        let mut meta = graph_with_libc(None);
        // helper declares libc twice: optional (feature off) for linux, plain for windows.
        meta["packages"][3]["dependencies"] = json!([
            {"name": "libc", "rename": null, "kind": null, "optional": true, "target": "cfg(unix)"},
            {"name": "libc", "rename": null, "kind": null, "optional": false, "target": "cfg(windows)"},
        ]);
        meta["resolve"]["nodes"][3]["deps"] = json!([{"pkg": "libc-id", "name": "libc",
            "dep_kinds": [{"kind": null, "target": "cfg(unix)"}, {"kind": null, "target": "cfg(windows)"}]}]);
        meta["resolve"]["nodes"][3]["features"] = json!(["std"]);
        assert!(check(&meta, &linux()).is_ok());
        // Turning the optional dependency on makes the edge real.
        meta["resolve"]["nodes"][3]["features"] = json!(["libc", "std"]);
        assert!(check(&meta, &linux()).is_err());
    }

    fn pkg(name: &str, links: Option<&str>, manifest: &str) -> Value {
        json!({"id": format!("{name}-id"), "name": name, "links": links,
               "manifest_path": manifest, "metadata": null})
    }

    fn edge(to: &str, kind: Option<&str>) -> Value {
        json!({"pkg": format!("{to}-id"), "dep_kinds": [{"kind": kind, "target": null}]})
    }

    fn doc(packages: Vec<Value>, nodes: Vec<(&str, Vec<Value>)>) -> Value {
        let members: Vec<Value> = packages
            .iter()
            .filter(|p| p["manifest_path"].as_str().unwrap().starts_with("/ws/"))
            .map(|p| p["id"].clone())
            .collect();
        json!({
            "workspace_root": "/ws",
            "workspace_members": members,
            "packages": packages,
            "resolve": {"nodes": nodes.into_iter()
                .map(|(id, deps)| json!({"id": format!("{id}-id"), "deps": deps}))
                .collect::<Vec<_>>()},
        })
    }

    fn graph_with_libc(kind: Option<&str>) -> Value {
        doc(
            vec![
                pkg("shoal-reactor", None, "/ws/crates/reactor/Cargo.toml"),
                pkg("rustix", None, "/reg/rustix/Cargo.toml"),
                pkg("linux-raw-sys", None, "/reg/lrs/Cargo.toml"),
                pkg("helper", None, "/reg/helper/Cargo.toml"),
                pkg("libc", None, "/reg/libc/Cargo.toml"),
            ],
            vec![
                (
                    "shoal-reactor",
                    vec![edge("rustix", None), edge("helper", kind)],
                ),
                ("rustix", vec![edge("linux-raw-sys", None)]),
                ("linux-raw-sys", vec![]),
                ("helper", vec![edge("libc", None)]),
                ("libc", vec![]),
            ],
        )
    }

    #[test]
    fn pure_rust_graph_passes() {
        let meta = graph_with_libc(Some("dev"));
        assert_eq!(
            check(&meta, &linux()).unwrap(),
            vec!["shoal-reactor".to_owned()]
        );
    }

    #[test]
    fn libc_through_a_normal_edge_fails_with_its_path() {
        let errs = check(&graph_with_libc(None), &linux()).unwrap_err();
        assert_eq!(errs.len(), 1);
        assert_eq!(errs[0].path, ["shoal-reactor", "helper", "libc"]);
    }

    #[test]
    fn links_key_and_cc_build_dependency_fail() {
        let meta = doc(
            vec![
                pkg("shoal-mux", None, "/ws/crates/mux/Cargo.toml"),
                pkg("zstd-sys", Some("zstd"), "/reg/zstd/Cargo.toml"),
                pkg("ring", None, "/reg/ring/Cargo.toml"),
                pkg("cc", None, "/reg/cc/Cargo.toml"),
            ],
            vec![
                (
                    "shoal-mux",
                    vec![edge("zstd-sys", None), edge("ring", None)],
                ),
                ("zstd-sys", vec![]),
                ("ring", vec![edge("cc", Some("build"))]),
                ("cc", vec![]),
            ],
        );
        let errs = check(&meta, &linux()).unwrap_err();
        let reasons: Vec<&str> = errs.iter().map(|v| v.reason.as_str()).collect();
        assert_eq!(errs.len(), 2, "{reasons:?}");
        assert!(reasons[0].contains("zstd"));
        assert!(reasons[1].contains("`cc`"));
    }

    #[test]
    fn opted_out_binary_and_non_crates_members_are_not_checked() {
        let mut meta = graph_with_libc(None);
        meta["packages"][0]["metadata"] = json!({"shoal": {"allow-c": "daemon binary"}});
        assert_eq!(check(&meta, &linux()).unwrap(), Vec::<String>::new());
    }
}
