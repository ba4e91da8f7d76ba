//! The contract with Docusaurus: on the real developer.overheid.nl blog,
//! postbode derives what `@docusaurus/plugin-content-blog` 3.10.2 derives.

use serde_json::Value;

use crate::helpers::*;

fn reference(corpus: &std::path::Path) -> Vec<Value> {
    let path = corpus.join("developer-overheid/docusaurus-metadata.json");
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    doc["posts"].as_array().unwrap().clone()
}

fn pairs(v: &Value, a: &str, b: &str) -> Vec<(String, String)> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t[a].as_str().unwrap_or("").to_string(),
                t[b].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

#[test]
fn every_published_corpus_post_matches_the_docusaurus_loader() {
    let Some(blog) = TestBlog::corpus() else {
        return;
    };
    let corpus = corpus_dir().expect("TestBlog::corpus found it");
    let ours = blog.posts_json("2026-11-29T00:00:00Z");
    let published: Vec<&Value> = ours.iter().filter(|p| p["published"] == true).collect();
    let reference = reference(&corpus);
    assert_eq!(published.len(), 68, "published posts");
    assert_eq!(reference.len(), 68);

    let mut mismatches = Vec::new();
    for (i, want) in reference.iter().enumerate() {
        let source = want["source"].as_str().unwrap();
        let Some(got) = ours.iter().find(|p| p["source"] == source) else {
            mismatches.push(format!("{source}: missing"));
            continue;
        };
        for key in ["permalink", "url", "title"] {
            if got[key] != want[key] {
                mismatches.push(format!("{source}: {key} {} != {}", got[key], want[key]));
            }
        }
        // Same instant; Docusaurus prints milliseconds.
        let got_date = chrono::DateTime::parse_from_rfc3339(got["date"].as_str().unwrap()).unwrap();
        let want_date =
            chrono::DateTime::parse_from_rfc3339(want["date"].as_str().unwrap()).unwrap();
        if got_date != want_date {
            mismatches.push(format!("{source}: date {got_date} != {want_date}"));
        }
        if pairs(&got["tags"], "label", "permalink") != pairs(&want["tags"], "label", "permalink") {
            mismatches.push(format!(
                "{source}: tags {} != {}",
                got["tags"], want["tags"]
            ));
        }
        let names = |v: &Value| -> Vec<String> {
            v.as_array()
                .unwrap()
                .iter()
                .map(|a| a["name"].as_str().unwrap_or("").to_string())
                .collect()
        };
        if names(&got["authors"]) != names(&want["authors"]) {
            mismatches.push(format!(
                "{source}: authors {} != {}",
                got["authors"], want["authors"]
            ));
        }
        // Front matter descriptions are taken verbatim.
        let text =
            std::fs::read_to_string(corpus.join("developer-overheid/blog").join(source)).unwrap();
        let front = text.split("\n---").next().unwrap();
        if front.lines().any(|l| l.starts_with("description:"))
            && got["description"] != want["description"]
        {
            mismatches.push(format!(
                "{source}: description {} != {}",
                got["description"], want["description"]
            ));
        }
        // Same order: newest first, ties as Docusaurus orders them.
        if published.get(i).map(|p| &p["source"]) != Some(&want["source"]) {
            mismatches.push(format!("position {i}: {source}"));
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} mismatches:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
}

#[test]
fn the_two_corpus_drafts_are_read_but_not_published() {
    let Some(blog) = TestBlog::corpus() else {
        return;
    };
    let ours = blog.posts_json("2026-11-29T00:00:00Z");
    let drafts: Vec<&str> = ours
        .iter()
        .filter(|p| p["draft"] == true)
        .map(|p| p["source"].as_str().unwrap())
        .collect();
    assert_eq!(drafts.len(), 2, "{drafts:?}");
    assert!(drafts.iter().all(|d| d.starts_with("draft/")));
    assert!(
        ours.iter()
            .filter(|p| p["draft"] == true)
            .all(|p| p["published"] == false)
    );
}

#[test]
fn summaries_without_front_matter_description_are_whole_sentences() {
    let Some(blog) = TestBlog::corpus() else {
        return;
    };
    for post in blog.posts_json("2026-11-29T00:00:00Z") {
        let d = post["description"]
            .as_str()
            .unwrap_or_else(|| panic!("{}: no description", post["source"]));
        let d = d.trim_end();
        assert!(!d.is_empty(), "{}", post["source"]);
        assert!(
            d.ends_with(['.', '!', '?', '…', ':', ')', '"', '”']),
            "{}: summary ends mid-sentence: {d:?}",
            post["source"]
        );
    }
}

#[test]
fn other_docusaurus_layouts_read_the_same_way() {
    // A blog served at the site root, with flat files, folders, slug
    // overrides, a date with a time of day, inline authors and no tags.
    let blog = TestBlog::new("blog_path = \"/\"\n");
    blog.write(
        "2024-03-05-flat.mdx",
        "---\ntitle: Flat\nauthors:\n  - name: Ada\n    url: https://ada.example\n---\nText\n",
    );
    blog.write("2024-03-06-folder/index.md", "# Folder post\n");
    blog.write(
        "any-name.md",
        "---\nslug: /custom/path\ndate: 2024-03-07T09:15:00+01:00\n---\n# Slugged\n",
    );
    blog.write("2024/3/8/deep.md", "---\ntags: []\n---\n# Deep\n");
    let posts = blog.posts_json("2030-01-01T00:00:00Z");
    let find = |src: &str| posts.iter().find(|p| p["source"] == src).unwrap().clone();
    let flat = find("2024-03-05-flat.mdx");
    assert_eq!(flat["permalink"], "/2024/03/05/flat");
    assert_eq!(flat["url"], "https://example.org/2024/03/05/flat");
    assert_eq!(flat["authors"][0]["name"], "Ada");
    assert_eq!(flat["authors"][0]["key"], Value::Null);
    assert_eq!(
        find("2024-03-06-folder/index.md")["permalink"],
        "/2024/03/06/folder"
    );
    assert_eq!(find("2024-03-06-folder/index.md")["title"], "Folder post");
    let slugged = find("any-name.md");
    assert_eq!(slugged["permalink"], "/custom/path");
    assert_eq!(slugged["date"], "2024-03-07T08:15:00Z");
    assert_eq!(find("2024/3/8/deep.md")["permalink"], "/2024/3/8/deep");
    assert_eq!(find("2024/3/8/deep.md")["tags"], serde_json::json!([]));
}

#[test]
fn an_undated_post_takes_the_date_of_its_first_commit() {
    let blog = TestBlog::new("");
    blog.write("undated.md", "# Undated\n");
    let git = |args: &[&str]| {
        let ok = std::process::Command::new("git")
            .args(args)
            .current_dir(blog.blog())
            .env("GIT_AUTHOR_DATE", "2021-04-05T06:07:08Z")
            .env("GIT_COMMITTER_DATE", "2021-04-05T06:07:08Z")
            .env("GIT_AUTHOR_NAME", "t")
            .env("GIT_AUTHOR_EMAIL", "t@example.org")
            .env("GIT_COMMITTER_NAME", "t")
            .env("GIT_COMMITTER_EMAIL", "t@example.org")
            .status()
            .unwrap()
            .success();
        assert!(ok, "git {args:?}");
    };
    git(&["init", "-q"]);
    git(&["add", "undated.md"]);
    git(&["commit", "-q", "-m", "add"]);
    let posts = blog.posts_json("2030-01-01T00:00:00Z");
    assert_eq!(posts[0]["date"], "2021-04-05T06:07:08Z");
}

/// Only this contract, the corpus feed check and the MDX fidelity check
/// need the shared corpus (and skip without it): every other test runs on
/// data the repository holds (`tests/data/`, `examples/`), so that `cargo
/// test` passes on a fresh clone.
#[test]
fn only_the_contract_tests_read_the_shared_corpus() {
    let allowed = ["contract.rs", "feeds.rs", "helpers.rs", "mdx_fidelity.rs"];
    let dir = repo_dir().join("tests/it");
    let mut readers: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let text = std::fs::read_to_string(p).unwrap();
            text.contains(&["corpus", "_dir()"].concat())
                || text.contains(&["TestBlog::", "corpus()"].concat())
        })
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .filter(|name| !allowed.contains(&name.as_str()))
        .collect();
    readers.sort();
    assert!(
        readers.is_empty(),
        "these tests need ../shared/corpus and fail on a fresh clone: {readers:?}"
    );
    let feeds = std::fs::read_to_string(dir.join("feeds.rs")).unwrap();
    assert_eq!(
        feeds.matches(&["corpus", "_dir()"].concat()).count(),
        1,
        "in feeds.rs only the real-corpus feed check reads the corpus"
    );
}
