//! The floor under a full build: how long the work that no feed builder can
//! skip takes on this machine, done as plainly as possible on every core.
//!
//!   postbode-floor <posts folder> <output folder> <new folder>
//!
//! 1. read: every `.md`/`.mdx` file under the posts folder, read whole;
//! 2. render: each of their bodies (after the front matter) to HTML with
//!    pulldown-cmark and postbode's options, nothing else (no MDX, no link
//!    rewriting, no sanitising, no summary);
//! 3. write: every file of the output folder, byte for byte, to a fresh
//!    folder under the scratch folder: a new temporary file, one write, a
//!    rename (what postbode does for each feed), folders made as needed.
//!    The new folder must not exist, and it is left for the caller to
//!    remove: on ext4, files created just after a mass deletion are slowed
//!    by the inode allocator, which would bill this step for the removal.
//!
//! Prints one line: `read <s> render <s> write <s> total <s>`, then what was
//! done. Each step's inputs are loaded before its clock starts, and the
//! steps run one after the other, each on all cores. What a real build does
//! besides (front matter, planning, escaping and serialising three formats,
//! digests, the manifest) is not counted: a build cannot take less than this.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::Instant;

use pulldown_cmark::{Options, Parser};

fn main() -> ExitCode {
    let args: Vec<PathBuf> = std::env::args_os().skip(1).map(PathBuf::from).collect();
    let [posts, output, target] = args.as_slice() else {
        eprintln!("usage: postbode-floor <posts folder> <output folder> <new folder>");
        return ExitCode::from(2);
    };
    match run(posts, output, target) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("postbode-floor: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(posts: &Path, output: &Path, target: &Path) -> io::Result<()> {
    let sources = files_under(posts, &|p| {
        matches!(p.extension().and_then(|e| e.to_str()), Some("md" | "mdx"))
    })?;
    let outputs = files_under(output, &|_| true)?;
    if sources.is_empty() || outputs.is_empty() {
        return Err(io::Error::other("no posts or no output files: build first"));
    }
    if target.exists() {
        return Err(io::Error::other(format!(
            "{} is there already",
            target.display()
        )));
    }

    settle();
    let clock = Instant::now();
    let texts: Vec<String> = on_all_cores(&sources, |path| fs::read_to_string(path))?;
    let read = clock.elapsed().as_secs_f64();

    let bodies: Vec<&str> = texts.iter().map(|t| body_of(t)).collect();
    let clock = Instant::now();
    let html_bytes: Vec<usize> = on_all_cores(&bodies, |body| {
        let mut html = String::with_capacity(body.len() * 3 / 2);
        pulldown_cmark::html::push_html(&mut html, Parser::new_ext(body, options()));
        Ok(html.len())
    })?;
    let render = clock.elapsed().as_secs_f64();

    let files: Vec<(PathBuf, Vec<u8>)> = on_all_cores(&outputs, |path| {
        let rel = path.strip_prefix(output).map_err(io::Error::other)?;
        Ok((target.join(rel), fs::read(path)?))
    })?;
    settle();
    let clock = Instant::now();
    on_all_cores(&files, |(path, bytes)| write_new(path, bytes))?;
    let write = clock.elapsed().as_secs_f64();

    let source_bytes: usize = texts.iter().map(String::len).sum();
    let output_bytes: usize = files.iter().map(|(_, b)| b.len()).sum();
    println!(
        "read {read:.3} render {render:.3} write {write:.3} total {:.3}",
        read + render + write
    );
    println!(
        "{} posts ({:.1} MB) read and rendered to {:.1} MB of HTML; {} files ({:.1} MB) written; {} threads",
        texts.len(),
        source_bytes as f64 / 1e6,
        html_bytes.iter().sum::<usize>() as f64 / 1e6,
        files.len(),
        output_bytes as f64 / 1e6,
        threads()
    );
    Ok(())
}

/// postbode's Markdown options (src/render/html/mod.rs), so both parse the same.
fn options() -> Options {
    Options::ENABLE_TABLES
        | Options::ENABLE_FOOTNOTES
        | Options::ENABLE_STRIKETHROUGH
        | Options::ENABLE_TASKLISTS
        | Options::ENABLE_HEADING_ATTRIBUTES
}

/// The text after a leading `---` front matter block, or all of it.
fn body_of(text: &str) -> &str {
    let Some(rest) = text.strip_prefix("---\n") else {
        return text;
    };
    match rest.find("\n---\n") {
        Some(end) => &rest[end + 5..],
        None => text,
    }
}

/// Regular files under `root` (links are not followed), sorted.
fn files_under(root: &Path, keep: &dyn Fn(&Path) -> bool) -> io::Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    let mut folders = vec![root.to_path_buf()];
    while let Some(folder) = folders.pop() {
        for entry in fs::read_dir(&folder)? {
            let entry = entry?;
            let kind = entry.file_type()?;
            let path = entry.path();
            if kind.is_dir() {
                folders.push(path);
            } else if kind.is_file() && keep(&path) {
                found.push(path);
            }
        }
    }
    found.sort();
    Ok(found)
}

/// What postbode does per output file: a new file beside the target, one
/// write, a rename; the folder made when the create finds it missing.
fn write_new(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let temp = path.with_extension("floor.tmp");
    let create = || {
        fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&temp)
    };
    let mut file = match create() {
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            fs::create_dir_all(path.parent().unwrap_or(Path::new(".")))?;
            create()?
        }
        other => other?,
    };
    file.write_all(bytes)?;
    drop(file);
    fs::rename(&temp, path)
}

/// `f` over every item, on as many threads as there are cores, each taking
/// the next item when done with one (as rayon would); results in order.
fn on_all_cores<T: Sync, R: Send>(
    items: &[T],
    f: impl Fn(&T) -> io::Result<R> + Sync,
) -> io::Result<Vec<R>> {
    let next = AtomicUsize::new(0);
    let parts: Vec<io::Result<Vec<(usize, R)>>> = thread::scope(|s| {
        let workers: Vec<_> = (0..threads())
            .map(|_| {
                s.spawn(|| {
                    let mut done = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(item) = items.get(i) else { break };
                        done.push((i, f(item)?));
                    }
                    Ok(done)
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().expect("a worker panicked"))
            .collect()
    });
    let mut all = Vec::with_capacity(items.len());
    for part in parts {
        all.extend(part?);
    }
    all.sort_by_key(|(i, _)| *i);
    Ok(all.into_iter().map(|(_, r)| r).collect())
}

fn threads() -> usize {
    thread::available_parallelism().map_or(1, |n| n.get())
}

/// Writes back what earlier work left dirty, so this step does not pay for it
/// (benches/run.sh does the same before each timed build).
fn settle() {
    let _ = Command::new("sync").status();
}
