//! `cargo xtask features`: every crate checked alone, with no features and with each of its
//! features one at a time, so no crate compiles only thanks to features another crate turns on.

use crate::{cargo, root, run_cargo};

/// Each workspace crate and its features (`default` left out: it is one of the others).
fn crates_and_features() -> Result<Vec<(String, Vec<String>)>, String> {
    let out: std::process::Output = cargo()
        .current_dir(root())
        .args(["metadata", "--no-deps", "--format-version", "1"])
        .output()
        .map_err(|e| format!("cargo metadata: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "cargo metadata failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let meta: serde_json::Value =
        serde_json::from_slice(&out.stdout).map_err(|e| format!("cargo metadata: {e}"))?;
    let mut crates = Vec::new();
    for pkg in meta["packages"].as_array().into_iter().flatten() {
        let name = pkg["name"].as_str().unwrap_or_default().to_string();
        if name == "xtask" {
            continue;
        }
        let mut features: Vec<String> = pkg["features"]
            .as_object()
            .map(|f| f.keys().filter(|k| *k != "default").cloned().collect())
            .unwrap_or_default();
        features.sort();
        crates.push((name, features));
    }
    Ok(crates)
}

/// `cargo check` of each crate's library with no features, then with each feature alone.
pub(crate) fn each_feature() -> Result<(), String> {
    for (name, features) in crates_and_features()? {
        let mut sets = vec![None];
        sets.extend(features.iter().map(Some));
        for set in sets {
            let mut args = vec![
                "check",
                "--quiet",
                "-p",
                &name,
                "--lib",
                "--no-default-features",
            ];
            if let Some(f) = set {
                args.extend(["--features", f]);
            }
            let what = format!("{name} [{}]", set.map_or("no features", String::as_str));
            run_cargo(&what, &args, &[])?;
        }
    }
    Ok(())
}
