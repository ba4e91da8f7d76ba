//! Where the posts come from: a folder on disk, or a branch of a git
//! repository that is cloned into a cache folder on first use and fetched and
//! hard-reset to `origin/<branch>` on every later run. The clone is full, not
//! shallow, because a post without a date falls back to its file's first
//! commit (`posts::dates`), as Docusaurus does.
//!
//! The `git` command line does the work: it knows every transport,
//! credential helper and proxy setting a deployment may need.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};
use thiserror::Error;

use crate::config::{BlogConfig, GitSource};
use crate::diag::redact_url;

#[derive(Debug, Error)]
pub enum SourceError {
    /// No checkout to fall back on: the run cannot go on.
    #[error("cannot clone {url} (branch {branch}): {message}")]
    Clone {
        url: String,
        branch: String,
        message: String,
    },
    /// Fetching failed, but the last checkout is still there and is used.
    #[error("cannot fetch {url} (branch {branch}); using the last checkout in {}: {message}", checkout.display())]
    Fetch {
        url: String,
        branch: String,
        checkout: PathBuf,
        message: String,
    },
    #[error("no cache folder for git checkouts: set POSTBODE_CACHE_DIR, XDG_CACHE_HOME or HOME")]
    NoCacheDir,
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// A config whose `source` (and tags and authors files) point at files on
/// disk, plus the warning when they are an old checkout.
#[derive(Debug)]
pub struct Resolved {
    pub config: BlogConfig,
    /// Set when fetching failed and the last checkout is used: a problem
    /// (exit 1), not a reason to stop.
    pub stale: Option<SourceError>,
    /// Held while the checkout is in use: another run on the same
    /// repository and branch waits instead of resetting the files this one
    /// reads.
    _checkout_lock: Option<std::fs::File>,
}

/// Takes `<checkout>.lock` beside the checkout (inside it would be in the
/// way of `git clone`), waiting for a run that holds it.
fn lock_checkout(root: &Path) -> Result<std::fs::File, SourceError> {
    let mut path = root.as_os_str().to_owned();
    path.push(".lock");
    let path = PathBuf::from(path);
    let io = |source| SourceError::Io {
        path: path.clone(),
        source,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(io)?;
    file.lock().map_err(io)?;
    Ok(file)
}

/// `config` with `source`, `tags_file` and `authors_file` on disk. For a git
/// source, relative `tags_file`/`authors_file` are resolved against the
/// checkout root; without them, `tags.yml`/`authors.yml` in the blog folder
/// are used when present (as for a folder source).
pub fn resolve(config: &BlogConfig) -> Result<Resolved, SourceError> {
    let Some(git) = &config.git else {
        return Ok(Resolved {
            config: config.clone(),
            stale: None,
            _checkout_lock: None,
        });
    };
    let root = checkout_dir(&cache_base(|k| std::env::var_os(k))?, git);
    let lock = lock_checkout(&root)?;
    let (blog, stale) = match sync(git, &root) {
        Ok(()) => (root.join(&git.path), None),
        Err(SourceError::Fetch {
            url,
            branch,
            checkout,
            message,
        }) => {
            let blog = checkout.join(&git.path);
            let warning = SourceError::Fetch {
                url,
                branch,
                checkout,
                message,
            };
            (blog, Some(warning))
        }
        Err(e) => return Err(e),
    };
    let root = blog
        .ancestors()
        .nth(git.path.components().count())
        .unwrap_or(&blog)
        .to_path_buf();
    let file = |given: &Option<PathBuf>, default: &str| match given {
        Some(p) => Some(root.join(p)),
        None => Some(blog.join(default)).filter(|p| p.exists()),
    };
    let mut c = config.clone();
    c.tags_file = file(&git.tags_file, "tags.yml");
    c.authors_file = file(&git.authors_file, "authors.yml");
    c.source = blog;
    Ok(Resolved {
        config: c,
        stale,
        _checkout_lock: Some(lock),
    })
}

/// `POSTBODE_CACHE_DIR`, else `$XDG_CACHE_HOME/postbode`, else
/// `~/.cache/postbode`.
pub fn cache_base(env: impl Fn(&str) -> Option<OsString>) -> Result<PathBuf, SourceError> {
    let set = |k: &str| env(k).filter(|v| !v.is_empty()).map(PathBuf::from);
    if let Some(dir) = set("POSTBODE_CACHE_DIR") {
        return Ok(dir);
    }
    if let Some(dir) = set("XDG_CACHE_HOME") {
        return Ok(dir.join("postbode"));
    }
    set("HOME")
        .map(|h| h.join(".cache/postbode"))
        .ok_or(SourceError::NoCacheDir)
}

/// One folder per repository and branch: the repository's name for people,
/// a hash of URL and branch so two sources never share a checkout.
pub fn checkout_dir(base: &Path, git: &GitSource) -> PathBuf {
    let mut hasher = Sha256::new();
    hasher.update(git.url.as_bytes());
    hasher.update([0]);
    hasher.update(git.branch.as_bytes());
    let hash = hex::encode(hasher.finalize());
    let name: String = git
        .url
        .trim_end_matches('/')
        .trim_end_matches(".git")
        .rsplit(['/', ':'])
        .next()
        .unwrap_or("")
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        .collect();
    let name = name.trim_start_matches('.');
    let name = if name.is_empty() { "repo" } else { name };
    base.join(format!("{name}-{}", &hash[..16]))
}

fn sync(git: &GitSource, root: &Path) -> Result<(), SourceError> {
    let url = redact_url(&git.url);
    if root.join(".git").is_dir() {
        let refspec = format!("+refs/heads/{0}:refs/remotes/origin/{0}", git.branch);
        let fetched = run_git(
            Some(root),
            &["fetch", "--prune", "--quiet", "origin", &refspec],
        )
        .and_then(|_| {
            run_git(
                Some(root),
                &[
                    "reset",
                    "--hard",
                    "--quiet",
                    &format!("origin/{}", git.branch),
                ],
            )
        })
        .and_then(|_| run_git(Some(root), &["clean", "-ffdxq"]));
        if let Err(message) = fetched {
            return Err(SourceError::Fetch {
                url,
                branch: git.branch.clone(),
                checkout: root.to_path_buf(),
                message: redact_in(&message, &git.url),
            });
        }
        tracing::info!(url = %url, branch = %git.branch, "fetched");
        return Ok(());
    }
    let parent = root.parent().unwrap_or(root);
    std::fs::create_dir_all(parent).map_err(|source| SourceError::Io {
        path: parent.to_path_buf(),
        source,
    })?;
    // Clone beside the final folder and rename: a clone that fails halfway
    // leaves nothing that a later run would take for a checkout.
    let tmp = tempfile::Builder::new()
        .prefix(".clone-")
        .tempdir_in(parent)
        .map_err(|source| SourceError::Io {
            path: parent.to_path_buf(),
            source,
        })?;
    let target = tmp.path().join("repo");
    let target_str = target.to_string_lossy().into_owned();
    run_git(
        None,
        &[
            "clone",
            "--quiet",
            "--single-branch",
            "--branch",
            &git.branch,
            "--",
            &git.url,
            &target_str,
        ],
    )
    .map_err(|message| SourceError::Clone {
        url: url.clone(),
        branch: git.branch.clone(),
        message: redact_in(&message, &git.url),
    })?;
    // A partial checkout left by an older crash is in the way of the rename.
    if root.exists() {
        let _ = std::fs::remove_dir_all(root);
    }
    std::fs::rename(&target, root).map_err(|source| SourceError::Io {
        path: root.to_path_buf(),
        source,
    })?;
    tracing::info!(url = %url, branch = %git.branch, checkout = %root.display(), "cloned");
    Ok(())
}

/// Runs `git` without prompts, hooks or repository-configured helpers that
/// could run programs; returns its stderr on failure.
fn run_git(dir: Option<&Path>, args: &[&str]) -> Result<(), String> {
    let mut cmd = Command::new("git");
    cmd.args([
        "-c",
        "core.hooksPath=/dev/null",
        "-c",
        "core.fsmonitor=false",
        "-c",
        "protocol.ext.allow=never",
        "-c",
        "submodule.recurse=false",
        "-c",
        "advice.detachedHead=false",
    ]);
    if let Some(dir) = dir {
        cmd.arg("-C").arg(dir);
    }
    let output = cmd
        .args(args)
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GCM_INTERACTIVE", "never")
        .env("GIT_ASKPASS", "")
        .env("SSH_ASKPASS", "")
        .env("GIT_SSH_COMMAND", ssh_command())
        .output()
        .map_err(|e| format!("cannot run git: {e}"))?;
    if output.status.success() {
        Ok(())
    } else {
        let stderr = String::from_utf8_lossy(&output.stderr);
        Err(stderr
            .trim()
            .lines()
            .last()
            .unwrap_or("git failed")
            .to_string())
    }
}

/// ssh that never asks a question (`BatchMode`), unless the deployment set
/// its own `GIT_SSH_COMMAND`.
fn ssh_command() -> OsString {
    std::env::var_os("GIT_SSH_COMMAND").unwrap_or_else(|| "ssh -o BatchMode=yes".into())
}

/// git repeats the URL in its messages; never show its credentials.
fn redact_in(message: &str, url: &str) -> String {
    message.replace(url, &redact_url(url))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn git(url: &str, branch: &str) -> GitSource {
        GitSource {
            url: url.into(),
            branch: branch.into(),
            path: "blog".into(),
            tags_file: None,
            authors_file: None,
        }
    }

    #[test]
    fn the_cache_folder_is_named_after_the_repository_and_a_hash_of_url_and_branch() {
        let base = Path::new("/cache");
        let main = checkout_dir(
            base,
            &git("https://github.com/developer-overheid-nl/don-site", "main"),
        );
        let name = main.file_name().unwrap().to_str().unwrap();
        assert!(name.starts_with("don-site-"), "{name}");
        assert_eq!(name.len(), "don-site-".len() + 16);
        assert_eq!(main.parent(), Some(base));
        // Stable across runs, different per branch and per URL.
        assert_eq!(
            main,
            checkout_dir(
                base,
                &git("https://github.com/developer-overheid-nl/don-site", "main")
            )
        );
        assert_ne!(
            main,
            checkout_dir(
                base,
                &git("https://github.com/developer-overheid-nl/don-site", "dev")
            )
        );
        let scp = checkout_dir(base, &git("git@github.com:org/site.git", "main"));
        assert!(
            scp.file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .starts_with("site-")
        );
        let odd = checkout_dir(base, &git("file:///", "main"));
        assert!(
            odd.file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .starts_with("repo-")
        );
    }

    #[test]
    fn the_cache_base_follows_postbode_then_xdg_then_home() {
        let env = |vars: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                vars.iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| OsString::from(v))
            }
        };
        let all = env(&[
            ("POSTBODE_CACHE_DIR", "/p"),
            ("XDG_CACHE_HOME", "/x"),
            ("HOME", "/h"),
        ]);
        assert_eq!(cache_base(all).unwrap(), Path::new("/p"));
        let xdg = env(&[("XDG_CACHE_HOME", "/x"), ("HOME", "/h")]);
        assert_eq!(cache_base(xdg).unwrap(), Path::new("/x/postbode"));
        let home = env(&[("XDG_CACHE_HOME", ""), ("HOME", "/h")]);
        assert_eq!(cache_base(home).unwrap(), Path::new("/h/.cache/postbode"));
        assert!(cache_base(env(&[])).is_err());
    }

    #[test]
    fn credentials_in_urls_are_never_shown() {
        for (url, shown) in [
            (
                "https://user:s3cret@github.com/org/site.git",
                "https://github.com/org/site.git",
            ),
            (
                "https://x-access-token:ghp_abc@github.com/o/r",
                "https://github.com/o/r",
            ),
            ("https://github.com/o/r", "https://github.com/o/r"),
            ("git@github.com:o/r.git", "git@github.com:o/r.git"),
            ("file:///tmp/blog.git", "file:///tmp/blog.git"),
        ] {
            assert_eq!(redact_url(url), shown);
        }
        let message = redact_in(
            "fatal: could not read from https://u:pw@h/r",
            "https://u:pw@h/r",
        );
        assert!(!message.contains("pw"), "{message}");
    }
}
