//! What each fuzz target does with one input, shared by the `cargo fuzz`
//! targets (fuzz/fuzz_targets/*.rs) and the corpus replay test
//! (tests/it/fuzz_corpus.rs), which includes this file with `#[path]`: the
//! regression test makes exactly the calls the fuzzer made. Only the public
//! library API is used, the way the loader, the renderer and `check` use it.
//! A broken invariant panics, which libFuzzer reports as a crash and the
//! replay test as a failure.

use std::path::{Path, PathBuf};

use postbode::config::{self, BlogConfig, subscribers};
use postbode::diag::Diagnostic;
use postbode::posts::{self, authors::AuthorFields, authors::AuthorsFile, tags::TagsFile};
use postbode::render::{self, Assets, Document, LinkResolver, Site};

/// Inputs larger than this are skipped: a post is at most a few hundred KB,
/// and a fuzzer that spends its time on megabytes finds little.
pub const MAX_INPUT: usize = 256 * 1024;

/// The fuzzed post's file name: the date comes from it, so the loader never
/// asks git (which would start a process per input).
const POST_FILE: &str = "2024-01-01-fuzz.mdx";
const SITE_URL: &str = "https://example.org";

/// A small blog folder of this process and thread (on tmpfs when there is
/// one), in which each input is written as a post, a tags/authors file or a
/// subscribers file. Removed when dropped.
pub struct Scratch {
    dir: PathBuf,
    config: BlogConfig,
}

impl Scratch {
    pub fn new() -> Scratch {
        let shm = Path::new("/dev/shm");
        let root = if shm.is_dir() {
            shm.to_path_buf()
        } else {
            std::env::temp_dir()
        };
        let thread = format!("{:?}", std::thread::current().id());
        let thread: String = thread.chars().filter(char::is_ascii_digit).collect();
        let dir = root.join(format!("postbode-fuzz-{}-{thread}", std::process::id()));
        let blog = dir.join("blog");
        std::fs::create_dir_all(blog.join("img")).expect("scratch blog folder");
        let write = |name: &str, bytes: &[u8]| {
            std::fs::write(blog.join(name), bytes).expect("scratch blog file");
        };
        write("tags.yml", include_bytes!("../examples/blog/tags.yml"));
        write(
            "authors.yml",
            include_bytes!("../examples/blog/authors.yml"),
        );
        write("img/pic.png", b"\x89PNG not really");
        write(
            "2024-01-02-other.md",
            b"---\ntitle: Other\ntags: [api]\n---\nThe post others link to.\n",
        );
        write(POST_FILE, b"");
        let toml = "title = \"Fuzz\"\nsite_url = \"https://example.org\"\nsource = \"blog\"\n\
                    timezone = \"Europe/Amsterdam\"\n";
        let config = config::parse(toml, &dir.join("fuzz.toml")).expect("scratch feed definition");
        Scratch { dir, config }
    }
}

impl Default for Scratch {
    fn default() -> Self {
        Scratch::new()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn text(data: &[u8]) -> Option<&str> {
    if data.len() > MAX_INPUT {
        return None;
    }
    std::str::from_utf8(data).ok()
}

/// A diagnostic places itself on a real line: 1-based, and not past the end
/// of the text it is about (plus one, for "at the end of the file").
fn check_place(d: &Diagnostic, text: &str) {
    let shown = d.to_string();
    assert!(!shown.is_empty());
    if let Some(line) = d.line {
        // YAML and editors also end a line at a lone CR.
        let lone_cr = text.matches('\r').count() - text.matches("\r\n").count();
        let lines = text.matches('\n').count() + lone_cr + 1;
        assert!(line >= 1, "line 0 in {shown}");
        assert!(line <= lines + 1, "line {line} of {lines} in {shown}");
        assert!(d.column.is_none_or(|c| c >= 1), "column 0 in {shown}");
    }
}

/// Safe HTML: the sanitiser leaves no script element, no event handler
/// attribute and no script URL. Text is escaped (`&lt;`), so every `<` opens
/// a tag; attribute values are quoted and may hold `>`.
fn check_html(html: &str) {
    let mut rest = html;
    while let Some(start) = rest.find('<') {
        let tag = &rest[start + 1..];
        let mut quoted = false;
        let end = tag
            .char_indices()
            .find(|&(_, c)| {
                if c == '"' {
                    quoted = !quoted;
                }
                c == '>' && !quoted
            })
            .map_or(tag.len(), |(i, _)| i);
        check_tag(&tag[..end], html);
        rest = &tag[end..];
    }
}

fn check_tag(tag: &str, html: &str) {
    let lower = tag.to_ascii_lowercase();
    assert!(!lower.starts_with("script"), "script element in {html:?}");
    // `name="value"` pieces, split on spaces outside quotes.
    let mut pieces = Vec::new();
    let (mut quoted, mut from) = (false, 0);
    for (i, c) in lower.char_indices() {
        match c {
            '"' => quoted = !quoted,
            c if c.is_ascii_whitespace() && !quoted => {
                pieces.push(&lower[from..i]);
                from = i + 1;
            }
            _ => {}
        }
    }
    pieces.push(&lower[from..]);
    for piece in pieces.iter().skip(1) {
        let (name, value) = piece.split_once('=').unwrap_or((piece, ""));
        assert!(!name.starts_with("on"), "event handler {name} in {html:?}");
        let value = value.trim_matches('"').trim_start();
        for scheme in ["javascript:", "vbscript:"] {
            assert!(!value.starts_with(scheme), "{scheme} URL in {html:?}");
        }
    }
}

/// Target `post`: the input is a post file (front matter + Markdown/MDX
/// body) in a blog with a tags file, an authors file, an image and another
/// post. It is loaded with `posts::load` and, when it is a post, rendered
/// the way the pipeline's renderer does.
pub fn post(scratch: &Scratch, data: &[u8]) {
    let Some(text) = text(data) else { return };
    let config = &scratch.config;
    std::fs::write(config.source.join(POST_FILE), text).expect("write the post");
    let blog = posts::load(config);
    for d in blog.problems.iter().filter(|d| d.path.ends_with(POST_FILE)) {
        check_place(d, text);
    }
    let index = Index(
        blog.posts
            .iter()
            .map(|p| {
                let path = render::normalize_path(&config.source.join(&p.source));
                (path, p.url.clone())
            })
            .collect(),
    );
    let assets_url = format!("{}/assets", config.feeds_url);
    let assets = Assets::new(&assets_url, posts::confined::Roots::of_blog(config));
    for post in blog.posts.iter().filter(|p| p.source == POST_FILE) {
        assert!(post.url.starts_with(SITE_URL), "post URL {}", post.url);
        for tag in &post.tags {
            assert!(tag.permalink.starts_with("/blog/tags/"), "{tag:?}");
        }
        let body = match posts::read_body(config, post) {
            Ok(body) => body,
            Err(d) => panic!("a loaded post cannot be read again: {d}"),
        };
        let path = config.source.join(&post.source);
        let site = Site {
            site_url: &config.site_url,
        };
        let source = Document {
            path: &path,
            display_path: &path,
            url: &post.url,
            body: &body,
            body_line: post.body_line,
        };
        let rendered = render::render_html(&source, &site, &index, &assets);
        check_html(&rendered.html);
        for d in &rendered.warnings {
            check_place(d, text);
        }
        let _summary = render::post_summary(post.description.as_deref(), &body);
        if let Some(image) = post.image.as_deref()
            && let Some(url) = render::resolve_image_url(image, &source, &site, &assets)
        {
            let lower = url.to_ascii_lowercase();
            assert!(!lower.starts_with("javascript:"), "image URL {url}");
        }
    }
}

/// Links between posts, as `pipeline`'s post index resolves them.
struct Index(std::collections::HashMap<PathBuf, String>);

impl LinkResolver for Index {
    fn url_for_file(&self, abs_path: &Path) -> Option<String> {
        self.0.get(&render::normalize_path(abs_path)).cloned()
    }
}

/// Target `tags_authors`: the first byte chooses the file (even: `tags.yml`,
/// odd: `authors.yml`), the rest is its text. The file is loaded as the
/// loader does, and every top-level key found in the text is resolved.
pub fn tags_authors(scratch: &Scratch, data: &[u8]) {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let Some(text) = text(rest) else { return };
    let authors = !selector.is_multiple_of(2);
    let path = scratch.dir.join(if authors {
        "fuzz-authors.yml"
    } else {
        "fuzz-tags.yml"
    });
    std::fs::write(&path, text).expect("write the file");
    let mut problems = Vec::new();
    let keys = top_level_keys(text);
    if authors {
        if let Some(file) = AuthorsFile::load(&path, &mut problems) {
            for key in &keys {
                let inline = AuthorFields {
                    key: Some(key.clone()),
                    ..AuthorFields::default()
                };
                let author = posts::authors::merge(file.get(key), &inline, "/blog/authors");
                if let Some(page) = &author.page {
                    assert!(page.starts_with("/blog/authors/"), "author page {page}");
                }
                let _ = author.display_name();
            }
        }
    } else if let Some(file) = TagsFile::load(&path, &mut problems) {
        let _ = file.is_empty();
        for key in &keys {
            if let Some(tag) = file.resolve(key, "/blog/tags") {
                assert!(tag.permalink.starts_with("/blog/tags/"), "{tag:?}");
                let _ = tag.slug();
            }
        }
    }
    for d in &problems {
        check_place(d, text);
    }
}

/// The keys of a YAML mapping's first level, roughly: enough to ask the
/// parsed file about the entries the input declares.
fn top_level_keys(text: &str) -> Vec<String> {
    text.lines()
        .filter(|l| !l.starts_with([' ', '\t', '-', '#']))
        .filter_map(|l| l.split_once(':'))
        .map(|(k, _)| k.trim().trim_matches(['"', '\'']).to_string())
        .take(32)
        .collect()
}

/// Target `feed_definition`: the input is a feed definition
/// (`feeds/<blog>.toml`) checked with `config::parse`, its inline
/// `[[subscribers]]` resolved; the same text is also read as a separate
/// subscribers file.
pub fn feed_definition(scratch: &Scratch, data: &[u8]) {
    let Some(text) = text(data) else { return };
    let file = scratch.dir.join("feeds").join("fuzz.toml");
    let base = scratch.dir.join("feeds");
    let env = |name: &str| {
        name.len()
            .is_multiple_of(2)
            .then(|| format!("https://example.org/{name}"))
    };
    match config::parse(text, &file) {
        Err(e) => {
            assert!(!e.to_string().is_empty());
        }
        Ok(cfg) => {
            assert!(
                cfg.blog_path.starts_with('/'),
                "blog_path {}",
                cfg.blog_path
            );
            assert!(
                cfg.blog_path == "/" || !cfg.blog_path.ends_with('/'),
                "blog_path {}",
                cfg.blog_path
            );
            let _ = cfg.blog_route("/tags");
            let _ = cfg.site_link("/x");
            // A subscribers file named by the input is not read: it could
            // name anything on this machine.
            if let Some(field @ subscribers::SubscribersField::Inline(_)) = &cfg.subscribers {
                let (_, problems) = subscribers::resolve(
                    Some(field),
                    &base,
                    &cfg.file,
                    cfg.language.as_deref(),
                    &env,
                );
                for d in &problems {
                    check_place(d, text);
                }
            }
        }
    }
    let list = scratch.dir.join("fuzz-subscribers.toml");
    std::fs::write(&list, text).expect("write the subscribers file");
    let field = subscribers::SubscribersField::File(list);
    let (_, problems) = subscribers::resolve(Some(&field), &base, &file, Some("en"), &env);
    for d in &problems {
        check_place(d, text);
    }
}
