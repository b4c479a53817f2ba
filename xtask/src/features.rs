//! `cargo xtask features`: every crate checked alone, with no features and with each of its
//! features one at a time, so no crate compiles only thanks to features another crate turns on.

use crate::{cargo, root, run_cargo};

/// What `cargo <args>` printed; its error output when it failed (`what` names it).
fn cargo_stdout(args: &[&str], what: &str) -> Result<Vec<u8>, String> {
    let out = cargo()
        .current_dir(root())
        .args(args)
        .output()
        .map_err(|e| format!("{what}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{what} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(out.stdout)
}

/// Each workspace crate and its features (`default` left out: it is one of the others).
fn crates_and_features() -> Result<Vec<(String, Vec<String>)>, String> {
    let out = cargo_stdout(
        &["metadata", "--no-deps", "--format-version", "1"],
        "cargo metadata",
    )?;
    let meta: serde_json::Value =
        serde_json::from_slice(&out).map_err(|e| format!("cargo metadata: {e}"))?;
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

/// The HTTP exporters' TLS follows the facade's features: `native-tls` or none pulls no rustls
/// (nor aws-lc-sys, a C build), the default pulls no OpenSSL.
fn tls_follows_features() -> Result<(), String> {
    let exporters = "otel,langfuse,braintrust,filters";
    let cases: [(&str, String, &[&str]); 3] = [
        (
            "default TLS (rustls)",
            exporters.to_string(),
            &["openssl-sys", "native-tls"],
        ),
        (
            "native-tls",
            format!("{exporters},native-tls"),
            &["rustls", "aws-lc-sys", "aws-lc-rs"],
        ),
        (
            "no TLS",
            exporters.to_string(),
            &[
                "rustls",
                "aws-lc-sys",
                "aws-lc-rs",
                "openssl-sys",
                "native-tls",
            ],
        ),
    ];
    for (i, (what, features, absent)) in cases.iter().enumerate() {
        let mut args = vec!["tree", "-p", "aitrace", "-e", "normal", "--prefix", "none"];
        if i > 0 {
            args.push("--no-default-features");
        }
        args.extend(["--features", features.as_str()]);
        let out = cargo_stdout(&args, &format!("cargo tree ({what})"))?;
        let tree = String::from_utf8_lossy(&out);
        for name in *absent {
            if tree
                .lines()
                .any(|l| l.split_whitespace().next() == Some(*name))
            {
                return Err(format!("{what}: the build pulls in {name}"));
            }
        }
        println!("    TLS, {what}: none of {absent:?}");
    }
    Ok(())
}

/// `cargo check` of each crate's library with no features, then with each feature alone.
pub(crate) fn each_feature() -> Result<(), String> {
    tls_follows_features()?;
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
