//! A rebuild after a change reuses what the last build read and rendered
//! (`pipeline::cache`): what it writes must be byte for byte what a full
//! build of the same blog writes, whatever changed – a post's text, the
//! post another one links to, an image, the authors file.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use crate::helpers::*;

const NOW: &str = "2026-01-01T00:00:00Z";

/// The example blog, plus two posts where one links to the other by file.
fn blog() -> TestBlog {
    let blog = TestBlog::example();
    blog.write(
        "2025/10/2-target.md",
        "---\nslug: doel\nauthors: [anna-de-vries]\ntags: [api]\n---\n\n# Het doel\n\nTekst van het doel.\n",
    );
    blog.write(
        "2025/10/3-linker.md",
        "---\nauthors: [anna-de-vries]\ntags: [api]\n---\n\n# Verwijzer\n\nZie [het doel](./2-target.md) en ![plaatje](./img/p.png).\n",
    );
    std::fs::create_dir_all(blog.blog().join("2025/10/img")).unwrap();
    std::fs::write(blog.blog().join("2025/10/img/p.png"), b"png one").unwrap();
    blog
}

fn build(blog: &TestBlog, extra: &[&str]) -> BTreeMap<String, Vec<u8>> {
    let mut args = vec!["--now", NOW, "build"];
    args.extend(extra);
    let run = blog.run(&args);
    assert!(run.code <= 1, "{}", run.stderr);
    tree(&blog.out())
}

/// What a build from scratch writes for the blog as it is now.
fn full_build(blog: &TestBlog) -> BTreeMap<String, Vec<u8>> {
    let fresh = TestBlog::new("");
    std::fs::write(fresh.toml(), std::fs::read(blog.toml()).unwrap()).unwrap();
    copy_dir(&blog.blog(), &fresh.blog());
    // The site's static folder too (the example has one): images there map
    // to their site URL.
    let static_dir = blog.path().join("static");
    if static_dir.is_dir() {
        copy_dir(&static_dir, &fresh.path().join("static"));
    }
    build(&fresh, &[])
}

fn assert_same(incremental: &BTreeMap<String, Vec<u8>>, full: &BTreeMap<String, Vec<u8>>) {
    let names = |t: &BTreeMap<String, Vec<u8>>| t.keys().cloned().collect::<Vec<_>>();
    assert_eq!(names(incremental), names(full));
    for (rel, bytes) in full {
        assert!(
            incremental[rel] == *bytes,
            "{rel} differs from a full build:\n{}",
            String::from_utf8_lossy(&incremental[rel])
        );
    }
}

/// Rewrites a blog file with a modification time the last build cannot
/// have seen (file systems with coarse times would otherwise hide a quick
/// edit of the same size).
fn edit(blog: &TestBlog, rel: &str, text: &str) {
    blog.write(rel, text);
    let later = SystemTime::now() + Duration::from_secs(10);
    let file = std::fs::File::options()
        .write(true)
        .open(blog.blog().join(rel))
        .unwrap();
    file.set_modified(later).unwrap();
}

fn atom(tree: &BTreeMap<String, Vec<u8>>) -> String {
    String::from_utf8(tree["atom.xml"].clone()).unwrap()
}

#[test]
fn a_rebuild_after_a_one_post_edit_writes_what_a_full_build_writes() {
    let blog = blog();
    build(&blog, &[]);
    let text = std::fs::read_to_string(blog.blog().join("2025/10/3-linker.md")).unwrap();
    edit(
        &blog,
        "2025/10/3-linker.md",
        &text.replace("Zie", "Lees nu ook"),
    );
    let after = build(&blog, &[]);
    assert!(atom(&after).contains("Lees nu ook"), "{}", atom(&after));
    assert_same(&after, &full_build(&blog));
}

#[test]
fn an_image_removed_from_the_output_or_replaced_by_a_link_is_published_again_by_an_edit_rebuild() {
    let blog = blog();
    let first = build(&blog, &[]);
    let image = (first.keys())
        .find(|k| k.starts_with("assets/p-"))
        .expect("the linker's image is published")
        .clone();
    std::fs::remove_file(blog.out().join(&image)).unwrap();
    let text = std::fs::read_to_string(blog.blog().join("2025/10/2-target.md")).unwrap();
    edit(
        &blog,
        "2025/10/2-target.md",
        &text.replace("Tekst", "Andere tekst"),
    );
    let after = build(&blog, &[]);
    assert_same(&after, &full_build(&blog));
    // A link where the image goes is replaced by the file itself.
    let target = blog.out().join(&image);
    std::fs::remove_file(&target).unwrap();
    let elsewhere = blog.path().join("elsewhere.png");
    std::fs::write(&elsewhere, b"png one").unwrap();
    std::os::unix::fs::symlink(&elsewhere, &target).unwrap();
    edit(
        &blog,
        "2025/10/2-target.md",
        &text.replace("Tekst", "Weer andere tekst"),
    );
    let after = build(&blog, &[]);
    assert_same(&after, &full_build(&blog));
    let meta = std::fs::symlink_metadata(&target).unwrap();
    assert!(meta.file_type().is_file(), "{image} is still a link");
}

#[test]
fn the_feeds_index_and_opml_follow_a_retitled_post_and_come_back_when_removed() {
    let blog = blog();
    build(&blog, &[]);
    let text = std::fs::read_to_string(blog.blog().join("2025/10/3-linker.md")).unwrap();
    // A body edit leaves the lists as they are; a removed index comes back.
    edit(&blog, "2025/10/3-linker.md", &text.replace("Zie", "Kijk"));
    std::fs::remove_file(blog.out().join("index.html")).unwrap();
    let after = build(&blog, &[]);
    assert_same(&after, &full_build(&blog));
    // A new title is in the index page's latest posts.
    let retitled = text.replace("# Verwijzer", "# Nieuwe verwijzer");
    edit(
        &blog,
        "2025/10/3-linker.md",
        &format!("---\ntitle: Nieuw & anders\n{}", &retitled[4..]),
    );
    let after = build(&blog, &[]);
    let index = String::from_utf8(after["index.html"].clone()).unwrap();
    assert!(index.contains("Nieuw &amp; anders"), "{index}");
    assert_same(&after, &full_build(&blog));
}

#[test]
fn a_post_whose_link_target_moved_links_to_the_new_page_though_its_file_did_not_change() {
    let blog = blog();
    let before = build(&blog, &[]);
    assert!(atom(&before).contains("https://example.org/blog/doel"));
    let text = std::fs::read_to_string(blog.blog().join("2025/10/2-target.md")).unwrap();
    edit(
        &blog,
        "2025/10/2-target.md",
        &text.replace("slug: doel", "slug: nieuw-doel"),
    );
    let after = build(&blog, &[]);
    let linker = atom(&after);
    assert!(
        linker.contains("https://example.org/blog/nieuw-doel\"")
            || linker.contains("https://example.org/blog/nieuw-doel&quot;"),
        "{linker}"
    );
    assert_same(&after, &full_build(&blog));
}

#[test]
fn a_changed_image_and_authors_file_are_picked_up_by_a_rebuild() {
    let blog = blog();
    let before = build(&blog, &[]);
    std::fs::write(blog.blog().join("2025/10/img/p.png"), b"png two, longer").unwrap();
    let after = build(&blog, &[]);
    let asset = |t: &BTreeMap<String, Vec<u8>>| {
        t.keys()
            .find(|k| k.starts_with("assets/p-"))
            .cloned()
            .unwrap()
    };
    assert_ne!(asset(&after), asset(&before), "a new image gets a new name");
    assert!(atom(&after).contains(&asset(&after)));
    assert_same(&after, &full_build(&blog));

    let authors = std::fs::read_to_string(blog.blog().join("authors.yml")).unwrap();
    edit(
        &blog,
        "authors.yml",
        &authors.replace("name: Anna de Vries", "name: Anna van Dijk"),
    );
    let renamed = build(&blog, &[]);
    assert!(atom(&renamed).contains("Anna van Dijk"));
    assert_same(&renamed, &full_build(&blog));
}

#[test]
fn posts_whose_size_and_time_did_not_change_are_not_read_again() {
    // The rebuild trusts a file's size and modification time, as the
    // unchanged-blog check always has: a file with both unchanged is not
    // read. Shown here by changing the bytes but neither.
    let blog = blog();
    build(&blog, &[]);
    let path = blog.blog().join("2025/10/2-target.md");
    let text = std::fs::read_to_string(&path).unwrap();
    rewrite_keeping_time(&path, &text.replace("Tekst van", "Tekst VAN"));
    // Another post changes, so this is a rebuild, not an unchanged blog.
    let other = std::fs::read_to_string(blog.blog().join("2025/10/3-linker.md")).unwrap();
    edit(&blog, "2025/10/3-linker.md", &other.replace("Zie", "Kijk"));
    let after = build(&blog, &[]);
    assert!(atom(&after).contains("Kijk"));
    assert!(
        atom(&after).contains("Tekst van"),
        "the unchanged post was read again"
    );
    // --force reads everything.
    let forced = build(&blog, &["--force"]);
    assert!(atom(&forced).contains("Tekst VAN"));
}

#[test]
fn temporary_files_of_a_build_that_did_not_finish_are_removed_by_the_next() {
    let blog = blog();
    let first = build(&blog, &[]);
    let internal = blog.path().join("postbode-build");
    let marker = |dir: &std::path::Path| {
        std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.extension().is_some_and(|e| e == "writing"))
    };
    assert_eq!(marker(&internal), None, "a finished build leaves no marker");
    // What a build killed while writing leaves: its marker, and a
    // temporary file beside the feed it was writing.
    let lock = std::fs::read_dir(&internal)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "lock"))
        .expect("the build's lock file");
    std::fs::write(lock.with_extension("writing"), "").unwrap();
    let temp = blog.out().join("tags/api/.postbode-k1Ll3d.tmp");
    std::fs::write(&temp, "half a feed").unwrap();
    // Nothing changed in the blog, yet the next build cleans up.
    let after = build(&blog, &[]);
    assert!(!temp.exists(), "the temporary file is still there");
    assert_eq!(marker(&internal), None);
    assert_eq!(after, first);
}

/// What postbode wrote before the speed work of issue #12 (593751b, the
/// last commit before it), for a blog `benches/gen_blog.py` generates: the
/// SHA-256 of every output file. A change of the generator or of the
/// output on purpose means making this list again with that build (see
/// the file's first lines).
const BEFORE_SPEED_WORK: &str = include_str!("../data/before-speed-work.sha256");

/// The blog the list above was made from, in `dir`.
fn generated_blog(dir: &std::path::Path) {
    let status = std::process::Command::new("python3")
        .arg(repo_dir().join("benches/gen_blog.py"))
        .arg(dir)
        .args([
            "--posts",
            "300",
            "--tags",
            "40",
            "--authors",
            "60",
            "--seed",
            "7",
        ])
        .stdout(std::process::Stdio::null())
        .status()
        .expect("python3 runs benches/gen_blog.py");
    assert!(status.success(), "benches/gen_blog.py failed");
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(bytes))
}

fn digests(tree: &BTreeMap<String, Vec<u8>>) -> BTreeMap<String, String> {
    (tree.iter())
        .map(|(rel, bytes)| (rel.clone(), sha256_hex(bytes)))
        .collect()
}

#[test]
fn a_generated_blog_builds_to_the_bytes_written_before_the_speed_work() {
    let generator = sha256_hex(&std::fs::read(repo_dir().join("benches/gen_blog.py")).unwrap());
    let header = BEFORE_SPEED_WORK
        .lines()
        .find_map(|l| l.strip_prefix("# gen_blog.py "))
        .expect("the list names the generator it was made with");
    assert_eq!(
        header, generator,
        "benches/gen_blog.py changed since the list was made: make it again (see its first lines)"
    );
    let before: BTreeMap<String, String> = BEFORE_SPEED_WORK
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let (digest, rel) = l.split_once("  ").expect("<sha256>  <path>");
            (rel.to_owned(), digest.to_owned())
        })
        .collect();
    assert!(before.len() > 100, "{} files listed", before.len());

    let dir = tempfile::tempdir().unwrap();
    generated_blog(dir.path());
    let toml = dir.path().join("bench.toml");
    let build = |extra: &[&str]| {
        let mut args = vec!["--now", "2030-01-01T00:00:00Z", "build"];
        args.extend(extra);
        args.push(toml.to_str().unwrap());
        let run = postbode_in(dir.path(), &args);
        assert_eq!(run.code, 0, "{}", run.stderr);
        tree(&dir.path().join("out"))
    };
    let full = digests(&build(&[]));
    let differ: std::collections::BTreeSet<&String> = (before.keys().chain(full.keys()))
        .filter(|rel| before.get(*rel) != full.get(*rel))
        .collect();
    assert!(
        differ.is_empty(),
        "not as before the speed work: {differ:?}"
    );

    // An edit rebuild, then back: the cache's way to the same bytes.
    let post = walkdir::WalkDir::new(dir.path().join("blog"))
        .into_iter()
        .map(Result::unwrap)
        .filter(|e| e.path().extension().is_some_and(|x| x == "md"))
        .map(|e| e.into_path())
        .max()
        .unwrap();
    let text = std::fs::read_to_string(&post).unwrap();
    std::fs::write(&post, format!("{text}\nOne more line.\n")).unwrap();
    assert_ne!(digests(&build(&[])), full, "the edit shows");
    std::fs::write(&post, &text).unwrap();
    assert_eq!(digests(&build(&[])), full);
}

#[test]
fn a_damaged_build_cache_costs_time_not_correctness() {
    let blog = blog();
    build(&blog, &[]);
    let internal = blog.path().join("postbode-build");
    for entry in std::fs::read_dir(&internal).unwrap() {
        let path = entry.unwrap().path();
        // Every entry now reads as other bytes than its record says.
        if path.extension().is_some_and(|e| e == "pack") {
            let len = std::fs::metadata(&path).unwrap().len() as usize;
            std::fs::write(&path, vec![b'x'; len]).unwrap();
        }
    }
    let text = std::fs::read_to_string(blog.blog().join("2025/10/3-linker.md")).unwrap();
    edit(&blog, "2025/10/3-linker.md", &text.replace("Zie", "Bekijk"));
    let after = build(&blog, &[]);
    assert!(atom(&after).contains("Bekijk"));
    assert_same(&after, &full_build(&blog));

    let cache = std::fs::read_dir(&internal)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "cache"))
        .expect("a build cache beside the manifest");
    std::fs::write(&cache, "{ not json").unwrap();
    edit(&blog, "2025/10/3-linker.md", &text.replace("Zie", "Lees"));
    let again = build(&blog, &[]);
    assert!(atom(&again).contains("Lees"));
    assert_same(&again, &full_build(&blog));

    // A cache cut off halfway (a full disk) is no cache either.
    let bytes = std::fs::read(&cache).unwrap();
    std::fs::write(&cache, &bytes[..bytes.len() / 2]).unwrap();
    edit(&blog, "2025/10/3-linker.md", &text.replace("Zie", "Open"));
    let cut = build(&blog, &[]);
    assert!(atom(&cut).contains("Open"));
    assert_same(&cut, &full_build(&blog));
}

/// A blog with a state and one email subscriber (to a file outbox: no
/// server needed), one good post and one broken post.
fn blog_to_run() -> TestBlog {
    let blog = TestBlog::new(ONE_READER_BY_FILE);
    blog.write("2025-06-01-good.md", "---\ntitle: Good\n---\nText.\n");
    blog.write(
        "2025-06-02-broken.md",
        "---\ntitle: Broken\ntags: 5: [\n---\nText.\n",
    );
    blog
}

fn run_json(blog: &TestBlog, now: &str) -> (Run, serde_json::Value) {
    let run = blog.run(&["--now", now, "run", "--json"]);
    let summary = serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}\n{}", run.stdout, run.stderr));
    (run, summary)
}

#[test]
fn a_run_reports_a_broken_post_once_whether_its_build_read_the_blog_or_found_it_unchanged() {
    // The build and the notifications of a `run` share one reading of the
    // posts, so each problem is reported once, not by both halves.
    let blog = blog_to_run();
    let runs = [
        ("a first build", "2025-06-10T00:00:00Z"),
        ("an unchanged blog", "2025-06-10T00:00:00Z"),
    ];
    for (what, now) in runs {
        let (run, _) = run_json(&blog, now);
        assert_eq!(run.code, 1, "{what}: {}", run.stderr);
        assert_eq!(
            run.stderr.matches("2025-06-02-broken.md:3:").count(),
            1,
            "{what}: {}",
            run.stderr
        );
    }
    // A rebuild through the build cache (which never keeps a broken post).
    blog.write("2025-06-11-new.md", "---\ntitle: New\n---\nNews.\n");
    let (run, summary) = run_json(&blog, "2025-06-12T00:00:00Z");
    assert_eq!(
        run.stderr.matches("2025-06-02-broken.md:3:").count(),
        1,
        "{}",
        run.stderr
    );
    assert_eq!(
        summary["new_posts"].as_array().unwrap().len(),
        1,
        "{summary}"
    );
}

#[test]
fn a_run_announces_a_post_as_the_feeds_it_just_wrote_show_it() {
    // The notifications plan from the posts the build read, not from a
    // second reading that may differ (a file edited between the two). Shown
    // with a file whose bytes change while its size and time do not: the
    // build trusts its cache, and so must the announcement.
    let blog = blog_to_run();
    let later = "---\ntitle: Later\nslug: aaaa\ndate: 2025-07-01\n---\nSoon.\n";
    blog.write("2025-07-01-later.md", later);
    let (first, _) = run_json(&blog, "2025-06-10T00:00:00Z");
    assert_eq!(first.code, 1, "{}", first.stderr);
    let path = blog.blog().join("2025-07-01-later.md");
    rewrite_keeping_time(&path, &later.replace("aaaa", "bbbb"));

    let (run, summary) = run_json(&blog, "2025-07-02T00:00:00Z");
    assert_eq!(run.code, 1, "{}", run.stderr);
    let announced = summary["new_posts"].as_array().unwrap();
    assert_eq!(announced.len(), 1, "{summary}");
    let url = announced[0].as_str().unwrap();
    assert!(url.ends_with("/aaaa"), "{summary}");
    let feed = std::fs::read_to_string(blog.out().join("atom.xml")).unwrap();
    assert!(feed.contains(url), "{url} is not in the feed:\n{feed}");
}

/// Writes `text` to `path` and gives the file back its modification time:
/// with the length kept, a change that a rebuild trusting size and time
/// does not see.
fn rewrite_keeping_time(path: &std::path::Path, text: &str) {
    let then = std::fs::metadata(path).unwrap().modified().unwrap();
    std::fs::write(path, text).unwrap();
    std::fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(then)
        .unwrap();
}
