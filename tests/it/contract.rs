//! The contract with Docusaurus: on the real developer.overheid.nl blog,
//! postbode derives what `@docusaurus/plugin-content-blog` 3.10.2 derives.

use serde_json::Value;

use crate::helpers::*;

fn reference() -> Vec<Value> {
    let path = corpus_dir().join("developer-overheid/docusaurus-metadata.json");
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
    let blog = TestBlog::corpus();
    let ours = blog.posts_json("2026-11-29T00:00:00Z");
    let published: Vec<&Value> = ours.iter().filter(|p| p["published"] == true).collect();
    let reference = reference();
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
            std::fs::read_to_string(corpus_dir().join("developer-overheid/blog").join(source))
                .unwrap();
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
    let blog = TestBlog::corpus();
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
    let blog = TestBlog::corpus();
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
