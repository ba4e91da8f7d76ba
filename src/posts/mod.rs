//! Reading a blog folder into [`Post`]s the way Docusaurus's blog plugin does:
//! which files are posts, their front matter, dates, slugs, titles, tags and
//! authors. Every problem becomes a [`Diagnostic`] with file and line; a post
//! with an error is left out, the others are still read.

pub mod authors;
pub mod cache;
pub mod confined;
pub mod dates;
pub mod discover;
pub mod frontmatter;
pub mod lodash;
pub mod tags;
mod yaml;

use std::collections::{HashSet, hash_map};
use std::path::Path;
use std::sync::{Arc, Mutex};

use rayon::prelude::*;

use crate::config::BlogConfig;
use crate::diag::Diagnostic;
use crate::memory::FastMap;
use crate::model::{Author, Post, Tag};
use authors::AuthorsFile;
use cache::{FileMeta, Last, LastFile, PostCache, Stamps};
use confined::{Refusal, Roots};
use discover::PostFile;
use frontmatter::FrontMatter;
use sha2::{Digest, Sha256};
use tags::TagsFile;

/// Posts larger than this are refused: nobody writes a 10 MB blog post, and
/// rendering one would stall every feed build.
pub const MAX_POST_BYTES: u64 = 4 * 1024 * 1024;

/// Everything read from one blog folder.
#[derive(Debug, Default)]
pub struct Blog {
    /// All posts that could be read (drafts, unlisted and future ones
    /// included), newest first; ties in file order.
    pub posts: Vec<Post>,
    pub problems: Vec<Diagnostic>,
}

/// What every post needs to resolve its tags and authors.
struct Context<'a> {
    config: &'a BlogConfig,
    /// Where post files (and the images they name) may be read from.
    roots: Roots,
    tags: Option<TagsFile>,
    /// The tags file's keys, resolved once.
    declared_tags: FastMap<String, Tag>,
    authors: Option<AuthorsFile>,
    tags_route: String,
    authors_route: String,
    shared: Shared,
}

/// One value for each distinct tag and author, handed to posts as they are
/// read: a 50,000-post blog names the same few thousand some 200,000 times,
/// and a value of its own for each was the peak memory of loading it
/// (115 MB at 50,000 posts) until the posts were done.
#[derive(Default)]
struct Shared {
    tags: Mutex<HashSet<Arc<Tag>>>,
    authors: Mutex<HashSet<Arc<Author>>>,
}

impl Shared {
    /// Starts from the values the cached posts share, so that a post read
    /// again shares them too.
    fn seed(&self, tags: &[Arc<Tag>], authors: &[Arc<Author>]) {
        lock(&self.tags).extend(tags.iter().cloned());
        lock(&self.authors).extend(authors.iter().cloned());
    }

    fn tag(&self, tag: Tag) -> Arc<Tag> {
        one_of(&self.tags, tag)
    }

    fn author(&self, author: Author) -> Arc<Author> {
        one_of(&self.authors, author)
    }
}

/// `values` as shared ones, in a vector of their number. (`collect` from
/// `into_iter` would reuse the allocation of the values, a dozen times the
/// size of the pointers: 1.3 KB per post, 64 MB at 50,000 posts.)
fn shared<T, S>(values: Vec<T>, share: impl Fn(T) -> S) -> Vec<S> {
    let mut shared = Vec::with_capacity(values.len());
    shared.extend(values.into_iter().map(share));
    shared
}

fn one_of<T: Eq + std::hash::Hash>(set: &Mutex<HashSet<Arc<T>>>, value: T) -> Arc<T> {
    let mut set = lock(set);
    if let Some(shared) = set.get(&value) {
        return Arc::clone(shared);
    }
    let value = Arc::new(value);
    set.insert(Arc::clone(&value));
    value
}

/// A set stays whole when a thread panics while holding it.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

pub fn load(config: &BlogConfig) -> Blog {
    load_cached(config, None).0
}

/// What [`load_cached`] reuses from the last build: its posts (see
/// [`cache::LastPosts::take`]), and the stamps of the blog's files taken before
/// this build reads any.
pub struct Reuse<'a> {
    pub cache: Last,
    pub stamps: &'a Stamps,
}

/// What a blog is read with besides its posts: its tags and authors files
/// and its post files, found by [`find`].
pub struct Found {
    /// The blog folder was not there (or not a folder) when walked.
    missing: bool,
    roots: Roots,
    tags: Option<TagsFile>,
    authors: Option<AuthorsFile>,
    files: Vec<PostFile>,
    problems: Vec<Diagnostic>,
}

/// Reads the tags and authors files while walking the blog folder for its
/// post files: on their own, so that a build can read its cache meanwhile
/// (each is one thread's work).
pub fn find(config: &BlogConfig) -> Found {
    let roots = Roots::of_blog(config);
    if !config.source.is_dir() {
        return Found {
            missing: true,
            roots,
            tags: None,
            authors: None,
            files: Vec::new(),
            problems: Vec::new(),
        };
    }
    let ((tags, authors, mut problems), (files, mut walk_problems)) = rayon::join(
        || {
            let mut problems = Vec::new();
            let tags = (config.tags_file.as_deref()).and_then(|p| TagsFile::load(p, &mut problems));
            let authors =
                (config.authors_file.as_deref()).and_then(|p| AuthorsFile::load(p, &mut problems));
            (tags, authors, problems)
        },
        || {
            let mut problems = Vec::new();
            let files = discover::post_files(&config.source, &roots, &mut problems);
            (files, problems)
        },
    );
    problems.append(&mut walk_problems);
    Found {
        missing: false,
        roots,
        tags,
        authors,
        files,
        problems,
    }
}

/// [`load`], reusing the posts of `reuse` whose files are unchanged, and
/// returning what the next build may reuse (files read now get the stamp
/// from `reuse`, taken before reading; without it nothing is cached).
pub fn load_cached(config: &BlogConfig, reuse: Option<Reuse>) -> (Blog, PostCache) {
    load_found(config, find(config), reuse)
}

/// [`load_cached`] of the post files `found`.
pub fn load_found(config: &BlogConfig, found: Found, reuse: Option<Reuse>) -> (Blog, PostCache) {
    let Found {
        missing,
        roots,
        tags,
        authors,
        files,
        mut problems,
    } = found;
    if missing {
        problems.push(Diagnostic::error(
            &config.source,
            "the blog folder (`source`) does not exist or is not a folder",
        ));
        let blog = Blog {
            posts: Vec::new(),
            problems,
        };
        return (blog, PostCache::default());
    }
    let tags_route = config.blog_route("/tags");
    let declared_tags = (tags.as_ref())
        .map(|t| t.resolve_all(&tags_route))
        .unwrap_or_default();
    let cx = Context {
        config,
        roots,
        tags,
        declared_tags,
        authors,
        tags_route,
        authors_route: config.blog_route("/authors"),
        shared: Shared::default(),
    };
    // The posts of unchanged files move out of the last cache without a
    // copy; the next cache keeps what it knows of each file, not the post.
    let stamps = reuse.as_ref().map(|r| r.stamps);
    let Last {
        tables,
        files: mut last,
    } = reuse.map(|r| r.cache).unwrap_or_default();
    let (cached_tags, cached_authors) = tables.values();
    cx.shared.seed(cached_tags, cached_authors);
    // Boxed: an entry is 400 bytes, and a full build has none.
    let kept: Vec<Option<Box<LastFile>>> = (files.iter())
        .map(|f| {
            let entry = last.remove(&f.relative)?;
            (stamps.is_some_and(|s| entry.meta.holds(&f.path, s))).then(|| Box::new(entry))
        })
        .collect();
    crate::memory::drop_aside(last);
    let results: Vec<(Option<Post>, Vec<Diagnostic>, Option<FileMeta>)> = (files.par_iter())
        .zip(kept)
        .map(|(f, kept)| {
            if let Some((post, meta)) = kept.and_then(|e| tables.post(*e)) {
                return (Some(post), meta.problems.clone(), Some(meta));
            }
            let (post, diags, read) = read_post(&cx, f);
            let meta = match (&post, read, stamps.and_then(|s| s.get(&f.path))) {
                (Some(p), Read::Stable(hash), Some(stamp)) => Some(FileMeta {
                    stamp: *stamp,
                    hash,
                    image: cache::local_image(&f.path, p.image.as_deref()).map(|i| {
                        // As the walk names it, to compare stamps.
                        let i = crate::paths::normalize_path(&i);
                        let then = stamps.and_then(|s| s.get(&i)).copied();
                        (i, then)
                    }),
                    digest: cache::post_digest(p),
                    problems: diags.clone(),
                }),
                _ => None,
            };
            (post, diags, meta)
        })
        .collect();
    let mut next = PostCache::default();
    next.files.reserve(results.len());
    let mut posts = Vec::with_capacity(results.len());
    for (post, mut diags, meta) in results {
        problems.append(&mut diags);
        if let (Some(p), Some(meta)) = (&post, meta) {
            next.files.insert(p.source.clone(), meta);
        }
        posts.extend(post);
    }
    reject_duplicate_permalinks(&mut posts, &mut problems, &config.source);
    // Docusaurus sorts by date, newest first; equal dates keep file order.
    posts.sort_by(|a, b| b.date.cmp(&a.date).then_with(|| a.source.cmp(&b.source)));
    (Blog { posts, problems }, next)
}

/// Two files with one URL would overwrite each other's page; Docusaurus fails
/// the build. We keep the first (in file order) and report the others.
fn reject_duplicate_permalinks(posts: &mut Vec<Post>, problems: &mut Vec<Diagnostic>, root: &Path) {
    posts.sort_by(|a, b| a.source.cmp(&b.source));
    let mut first: crate::memory::FastMap<&str, &str> = crate::memory::fast_map(posts.len());
    let mut left_out = vec![false; posts.len()];
    for (p, out) in posts.iter().zip(&mut left_out) {
        match first.entry(&p.permalink) {
            hash_map::Entry::Occupied(used) => {
                problems.push(Diagnostic::error(
                    root.join(&p.source),
                    format!(
                        "permalink {} is already used by {}; this post is left out",
                        p.permalink,
                        used.get()
                    ),
                ));
                *out = true;
            }
            hash_map::Entry::Vacant(free) => {
                free.insert(&p.source);
            }
        }
    }
    drop(first);
    let mut out = left_out.into_iter();
    posts.retain(|_| !out.next().unwrap_or(false));
}

/// Reads a file as UTF-8, naming the line and column of the first bad byte.
/// With `roots`, only a regular file inside them is read (a post); without,
/// any regular file (a configured `tags.yml`). A refusal is a warning: the
/// file is left out, nothing is wrong with the blog's own files.
/// [`read_text`] of a post into `bytes`, a buffer the caller keeps.
fn read_text_into<'b>(
    path: &Path,
    roots: &Roots,
    bytes: &'b mut Vec<u8>,
) -> Result<&'b str, Diagnostic> {
    roots
        .read_into(path, bytes, MAX_POST_BYTES)
        .map_err(|e| not_read(path, e))?;
    std::str::from_utf8(bytes).map_err(|e| not_utf8(path, &bytes[..e.valid_up_to()]))
}

pub(crate) fn read_text(path: &Path, roots: Option<&Roots>) -> Result<String, Diagnostic> {
    let bytes = match roots {
        Some(roots) => roots.read(path),
        None => confined::read_regular(path),
    };
    let bytes = bytes.map_err(|e| not_read(path, e))?;
    String::from_utf8(bytes).map_err(|e| {
        let valid = e.utf8_error().valid_up_to();
        not_utf8(path, &e.as_bytes()[..valid])
    })
}

/// A file not read: an error when it could not be, a warning when it was
/// refused (nothing is wrong with the blog's own files).
fn not_read(path: &Path, why: Refusal) -> Diagnostic {
    match why {
        Refusal::Io(e) => Diagnostic::error(path, format!("cannot read: {e}")),
        Refusal::TooLarge { len, max } => Diagnostic::error(
            path,
            format!("post is {len} bytes, more than the {max} bytes postbode reads; left out"),
        ),
        refused => Diagnostic::warning(path, format!("not read: {refused}")),
    }
}

/// A file whose bytes after `valid` are not UTF-8, with the place.
fn not_utf8(path: &Path, valid: &[u8]) -> Diagnostic {
    let text = String::from_utf8_lossy(valid);
    let (line, col) = crate::text::line_col(&text, text.len());
    Diagnostic::error(path, "invalid UTF-8: the file must be saved as UTF-8").at(line, col)
}

/// Whether a post read now may be cached: `Stable` with the SHA-256 of
/// its bytes when it depends on nothing but its file (and `context`).
enum Read {
    Stable(cache::Digest),
    Volatile,
}

fn read_post(cx: &Context, file: &PostFile) -> (Option<Post>, Vec<Diagnostic>, Read) {
    let mut problems = Vec::new();
    let mut read = Read::Volatile;
    let post = parse_post(cx, file, &mut problems, &mut read);
    (post, problems, read)
}

fn parse_post(
    cx: &Context,
    file: &PostFile,
    problems: &mut Vec<Diagnostic>,
    read: &mut Read,
) -> Option<Post> {
    let path = &file.path;
    with_text_buffer(|bytes| {
        let text = match read_text_into(path, &cx.roots, bytes) {
            Ok(t) => t,
            Err(d) => {
                problems.push(d);
                return None;
            }
        };
        parse_text(cx, file, text, problems, read)
    })
}

/// Runs `f` with this thread's [`TEXT`] buffer.
fn with_text_buffer<R>(f: impl FnOnce(&mut Vec<u8>) -> R) -> R {
    TEXT.with(|buffer| {
        // A nested borrow (rayon running another post's job while this
        // one waits) gets a buffer of its own.
        let mut own = Vec::new();
        let mut kept = buffer.try_borrow_mut();
        f(kept.as_deref_mut().unwrap_or(&mut own))
    })
}

thread_local! {
    /// The text of the post being read (to parse it, or for its body to
    /// render), one buffer per thread: a build reads tens of thousands of
    /// files, and each no longer costs a fresh allocation grown while
    /// reading. (It does not lower the peak memory: that is the posts'
    /// metadata, see benches/README.md.)
    static TEXT: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// The post of a file's text (see [`parse_post`]).
fn parse_text(
    cx: &Context,
    file: &PostFile,
    text: &str,
    problems: &mut Vec<Diagnostic>,
    read: &mut Read,
) -> Option<Post> {
    let path = &file.path;
    *read = Read::Stable(Sha256::digest(text.as_bytes()).into());
    let split = match frontmatter::split(text) {
        Ok(s) => s,
        Err(line) => {
            problems.push(
                Diagnostic::error(path, "front matter starts with `---` but is never closed")
                    .at(line, 1),
            );
            return None;
        }
    };
    let fm: FrontMatter = match split.yaml {
        Some(yaml) if !yaml.trim().is_empty() => {
            match serde_saphyr::from_str::<Option<FrontMatter>>(yaml) {
                Ok(fm) => fm.unwrap_or_default(),
                Err(e) => {
                    problems.push(yaml::diagnostic(path, yaml, &e, split.yaml_line - 1));
                    return None;
                }
            }
        }
        _ => FrontMatter::default(),
    };
    let at = |loc: &serde_saphyr::Location| {
        (
            loc.line() as usize + split.yaml_line - 1,
            loc.column() as usize,
        )
    };
    let config = cx.config;
    let mut errors = 0;

    let parsed_name = dates::parse_file_name(&file.relative);
    let date = if let Some(d) = &fm.date {
        match dates::parse_front_matter_date(&d.value, config.timezone) {
            Some(date) => Some(date),
            None => {
                let (l, c) = at(&d.referenced);
                problems.push(
                    Diagnostic::error(
                        path,
                        format!(
                            "date: {:?} is not a date (use YYYY-MM-DD or an RFC 3339 date-time)",
                            d.value
                        ),
                    )
                    .at(l, c),
                );
                errors += 1;
                None
            }
        }
    } else {
        match &parsed_name.date {
            Some(Ok(date)) => Some(*date),
            Some(Err(text)) => {
                problems.push(Diagnostic::error(
                    path,
                    format!("the date {text} in the file name is not a real date"),
                ));
                errors += 1;
                None
            }
            None => {
                // The date comes from outside the file: read it again each time.
                *read = Read::Volatile;
                dates::git_first_commit_date(path).or_else(|| {
                    let modified = std::fs::metadata(path).and_then(|m| m.modified()).ok();
                    problems.push(Diagnostic::warning(
                        path,
                        "no date in front matter, file name or git history; using the file's modification time",
                    ));
                    modified.map(chrono::DateTime::<chrono::Utc>::from)
                })
            }
        }
    };

    let content_title = frontmatter::content_title(split.body);
    let title = fm
        .title
        .as_ref()
        .map(|t| t.value.clone())
        .or(content_title)
        .unwrap_or_else(|| parsed_name.text.clone());
    let slug = fm
        .slug
        .as_ref()
        .map(|s| s.value.clone())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| parsed_name.slug.clone());
    let permalink = join_permalink(&config.blog_route(""), &slug);

    if let Some(image) = &fm.image {
        let (l, c) = at(&image.referenced);
        if let Some(why) = refused_local_image(cx, path, &image.value) {
            problems.push(
                Diagnostic::warning(
                    path,
                    format!("image: {} is not published: {why}", image.value),
                )
                .at(l, c),
            );
        }
    }
    let post_tags = tags::post_tags(cx, &fm, path, &at, problems);
    let post_authors = match authors::post_authors(cx, &fm, path, &at, problems) {
        Ok(a) => a,
        Err(()) => {
            errors += 1;
            Vec::new()
        }
    };
    if errors > 0 {
        return None;
    }
    let date = date?;
    Some(Post {
        source: file.relative.clone(),
        url: config.site_link(&permalink),
        permalink,
        date,
        title,
        description: fm.description.clone(),
        tags: shared(post_tags, |t| cx.shared.tag(t)),
        authors: shared(post_authors, |a| cx.shared.author(a)),
        draft: fm.draft.unwrap_or(false),
        unlisted: fm.unlisted.unwrap_or(false),
        image: fm.image.as_ref().map(|i| i.value.clone()),
        body_line: split.body_line,
    })
}

/// Why the front matter `image`, when it names a local file, will not be
/// published (the renderer then silently leaves it out).
fn refused_local_image(cx: &Context, post: &Path, image: &str) -> Option<Refusal> {
    let file = cache::local_image(post, Some(image))?;
    if std::fs::metadata(&file).is_ok_and(|m| m.is_dir()) {
        return None;
    }
    match cx.roots.resolve(&file) {
        Ok(_) | Err(Refusal::Io(_)) => None,
        Err(why) => Some(why),
    }
}

/// The Markdown/MDX body of a post as the loader saw it: after the front
/// matter, with the `# Title` that gave the title blanked out.
/// Only a regular file inside the blog folder is read (see `confined`).
pub fn read_body(config: &BlogConfig, post: &Post) -> Result<String, Diagnostic> {
    read_body_in(config, &Roots::of_blog(config), post)
}

/// [`read_body`] with the blog's [`Roots`] at hand (a build reads thousands
/// of bodies, and finding the roots costs a real path each).
pub fn read_body_in(config: &BlogConfig, roots: &Roots, post: &Post) -> Result<String, Diagnostic> {
    let path = config.source.join(&post.source);
    with_text_buffer(|bytes| {
        let text = read_text_into(&path, roots, bytes)?;
        let split = frontmatter::split(text).map_err(|line| {
            Diagnostic::error(&path, "front matter is no longer closed").at(line, 1)
        })?;
        Ok(frontmatter::take_content_title(split.body).1)
    })
}

/// Docusaurus `normalizeUrl([baseUrl, routeBasePath, slug])`: one slash
/// between pieces, none doubled.
fn join_permalink(base: &str, slug: &str) -> String {
    let base = base.trim_end_matches('/');
    let slug = slug.trim_start_matches('/');
    let mut out = format!("{base}/{slug}");
    while out.contains("//") {
        out = out.replace("//", "/");
    }
    out
}

type At<'a> = dyn Fn(&serde_saphyr::Location) -> (usize, usize) + 'a;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn posts_share_one_value_per_distinct_tag_and_author() {
        let dir = tempfile::tempdir().unwrap();
        let blog = dir.path().join("blog");
        std::fs::create_dir_all(&blog).unwrap();
        for (file, tags) in [
            ("2025-01-01-a.md", "[api, open]"),
            ("2025-01-02-b.md", "[api]"),
            ("2025-01-03-c.md", "[open]"),
        ] {
            let text = format!("---\ntitle: T\ntags: {tags}\nauthor: Anna\n---\n\nText.\n");
            std::fs::write(blog.join(file), text).unwrap();
        }
        let toml = "title = \"T\"\nsite_url = \"https://example.org\"\nsource = \"blog\"\noutput = \"out\"\n";
        std::fs::write(dir.path().join("t.toml"), toml).unwrap();
        let config = crate::config::parse(toml, &dir.path().join("t.toml")).unwrap();
        let posts = load(&config).posts;
        assert_eq!(posts.len(), 3);
        let tag = |p: &Post, label: &str| p.tags.iter().find(|t| t.label == label).cloned();
        let api: Vec<_> = posts.iter().filter_map(|p| tag(p, "api")).collect();
        let open: Vec<_> = posts.iter().filter_map(|p| tag(p, "open")).collect();
        assert_eq!((api.len(), open.len()), (2, 2));
        assert!(Arc::ptr_eq(&api[0], &api[1]));
        assert!(Arc::ptr_eq(&open[0], &open[1]));
        assert!(!Arc::ptr_eq(&api[0], &open[0]));
        assert!(Arc::ptr_eq(&posts[0].authors[0], &posts[2].authors[0]));
        assert_eq!(posts[0].authors[0].name.as_deref(), Some("Anna"));
        // Room for the pointers, not for the values they were made from.
        for p in &posts {
            assert_eq!((p.tags.capacity(), p.authors.capacity()), (p.tags.len(), 1));
        }

        // A rebuild: two posts come from the cache, the edited one is read
        // again, and all three still share their values.
        let (_, stamps) = crate::feeds::manifest::fingerprint(&config).unwrap();
        let reuse = Reuse {
            cache: Last::default(),
            stamps: &stamps,
        };
        let (first, cache) = load_cached(&config, Some(reuse));
        let bytes = postcard::to_allocvec(&cache.with_posts("", &first.posts)).unwrap();
        let cache = postcard::from_bytes::<cache::LastPosts>(&bytes)
            .unwrap()
            .take();
        let edited = "---\ntitle: T2\ntags: [api]\nauthor: Anna\n---\n\nMore text.\n";
        std::fs::write(blog.join("2025-01-02-b.md"), edited).unwrap();
        let (_, stamps) = crate::feeds::manifest::fingerprint(&config).unwrap();
        let reuse = Reuse {
            cache,
            stamps: &stamps,
        };
        let posts = load_cached(&config, Some(reuse)).0.posts;
        let by_file = |name: &str| posts.iter().find(|p| p.source.ends_with(name)).unwrap();
        let (read_again, cached) = (by_file("b.md"), by_file("a.md"));
        assert_eq!(read_again.title, "T2");
        assert!(Arc::ptr_eq(&read_again.authors[0], &cached.authors[0]));
        let api = |p: &Post| tag(p, "api").unwrap();
        assert!(Arc::ptr_eq(&api(read_again), &api(cached)));
    }

    #[test]
    fn a_post_over_the_size_limit_is_an_error_and_the_others_load() {
        let dir = tempfile::tempdir().unwrap();
        let blog = dir.path().join("blog");
        std::fs::create_dir_all(&blog).unwrap();
        let fits = "---\ntitle: Fits\n---\n\nText.\n";
        std::fs::write(blog.join("2025-01-01-fits.md"), fits).unwrap();
        let mut huge = String::from("---\ntitle: Huge\n---\n\n");
        huge.push_str(&"x".repeat(MAX_POST_BYTES as usize + 1 - huge.len()));
        std::fs::write(blog.join("2025-01-02-huge.md"), &huge).unwrap();
        let toml = "title = \"T\"\nsite_url = \"https://example.org\"\nsource = \"blog\"\noutput = \"out\"\n";
        std::fs::write(dir.path().join("t.toml"), toml).unwrap();
        let config = crate::config::parse(toml, &dir.path().join("t.toml")).unwrap();
        let loaded = load(&config);
        let titles: Vec<_> = loaded.posts.iter().map(|p| p.title.as_str()).collect();
        assert_eq!(titles, ["Fits"]);
        let [problem] = loaded.problems.as_slice() else {
            panic!("{:?}", loaded.problems);
        };
        assert!(problem.path.ends_with("2025-01-02-huge.md"), "{problem:?}");
        assert_eq!(problem.severity, crate::diag::Severity::Error);
        let said = format!(
            "post is {} bytes, more than the {MAX_POST_BYTES} bytes",
            huge.len()
        );
        assert!(problem.message.contains(&said), "{}", problem.message);

        // Cut to the limit, it is read.
        std::fs::write(blog.join("2025-01-02-huge.md"), &huge[..huge.len() - 1]).unwrap();
        let loaded = load(&config);
        assert_eq!((loaded.posts.len(), loaded.problems.len()), (2, 0));
    }
}
