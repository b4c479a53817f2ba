//! `cargo xtask readme`: README's "Add it to your app" built as a new project, exactly as written
//! (its dependency lines and its code), with aitrace taken from this checkout: a missing feature of a
//! client library (async-openai's `chat-completion`, say) fails here as it would for a user.

use std::path::Path;

use crate::{cargo, root};

/// The first fenced block of `lang` (the fence's first word) after `heading`.
fn block<'a>(readme: &'a str, heading: &str, lang: &str) -> Result<&'a str, String> {
    let section = readme
        .split_once(heading)
        .ok_or_else(|| format!("README has no {heading:?}"))?
        .1;
    let mut rest = section;
    while let Some(start) = rest.find("```") {
        let after = &rest[start + 3..];
        let (fence, body) = after.split_once('\n').unwrap_or((after, ""));
        let end = body
            .find("\n```")
            .ok_or_else(|| format!("an unclosed ``` block under {heading:?}"))?;
        if fence.split([',', ' ']).next() == Some(lang) {
            return Ok(&body[..end + 1]);
        }
        rest = &body[end + 4..];
    }
    Err(format!("no ```{lang} block under {heading:?}"))
}

pub(crate) fn readme() -> Result<(), String> {
    let root = root();
    let readme = std::fs::read_to_string(root.join("README.md")).map_err(|e| e.to_string())?;
    let heading = "## Add it to your app";
    let deps = block(&readme, heading, "toml")?;
    let code = block(&readme, heading, "rust")?;
    let local = format!("aitrace = {{ path = {:?}", root.to_string_lossy());
    if !deps.contains("aitrace = { version = \"0.1\"") {
        return Err("README's dependency lines do not name aitrace".into());
    }
    let deps = deps.replace("aitrace = { version = \"0.1\"", &local);
    let app = root.join("target").join("readme-app");
    std::fs::create_dir_all(app.join("src")).map_err(|e| e.to_string())?;
    let manifest = format!(
        "[package]\nname = \"readme-app\"\nversion = \"0.0.0\"\nedition = \"2021\"\npublish = false\n\n\
         # Not a member of the aitrace workspace around it.\n[workspace]\n\n{deps}"
    );
    write(&app.join("Cargo.toml"), &manifest)?;
    write(&app.join("src").join("main.rs"), code)?;
    // The workspace's lock file: the same versions, so the build reuses what CI compiled.
    std::fs::copy(root.join("Cargo.lock"), app.join("Cargo.lock")).map_err(|e| e.to_string())?;
    println!("==> README's app as a new project ({})", app.display());
    let status = cargo()
        .current_dir(&app)
        .args(["build", "--quiet"])
        .env("CARGO_TARGET_DIR", root.join("target"))
        .status()
        .map_err(|e| format!("cargo build: {e}"))?;
    if !status.success() {
        return Err(format!(
            "README's \"Add it to your app\" does not build as written ({status})"
        ));
    }
    println!("<== README's app builds");
    Ok(())
}

fn write(path: &Path, text: &str) -> Result<(), String> {
    std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_are_found_by_language_under_their_heading() {
        let text = "# x\n```toml\nno = 1\n```\n## Add\ntext\n```toml\na = 1\n```\n```rust,no_run\nfn main() {}\n```\n";
        assert_eq!(block(text, "## Add", "toml").unwrap(), "a = 1\n");
        assert_eq!(block(text, "## Add", "rust").unwrap(), "fn main() {}\n");
        assert!(block(text, "## Add", "sh").is_err());
        assert!(block(text, "## Missing", "toml").is_err());
    }
}
