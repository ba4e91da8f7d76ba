//! Replays the committed fuzz corpora (fuzz/corpus/<target>/ and the
//! hand-written seeds in fuzz/seeds/<target>/) through the very calls the
//! `cargo fuzz` targets make: fuzz/harness.rs is compiled into this test, so
//! every input a fuzzer once found interesting (and every crash it found,
//! once fixed) stays a regression test under plain `cargo test`, without
//! libFuzzer or a sanitizer.

use std::path::PathBuf;

#[path = "../../fuzz/harness.rs"]
mod harness;

/// Every file of the target's corpus and seeds, in name order.
fn inputs(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut out = Vec::new();
    for set in ["corpus", "seeds"] {
        let Ok(entries) = std::fs::read_dir(root.join(set).join(target)) else {
            continue;
        };
        for entry in entries {
            let path = entry.expect("corpus entry").path();
            if path.is_file() {
                let bytes = std::fs::read(&path).expect("corpus file");
                out.push((path, bytes));
            }
        }
    }
    out.sort();
    out
}

/// Runs each input, naming the one that failed.
fn replay(target: &str, run: fn(&harness::Scratch, &[u8])) {
    let inputs = inputs(target);
    assert!(!inputs.is_empty(), "no corpus for fuzz target {target}");
    let scratch = harness::Scratch::new();
    for (path, bytes) in &inputs {
        let result =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run(&scratch, bytes)));
        assert!(result.is_ok(), "fuzz input {} fails", path.display());
    }
}

#[test]
fn every_post_in_the_fuzz_corpus_loads_and_renders_to_safe_html() {
    replay("post", harness::post);
}

#[test]
fn every_tags_and_authors_file_in_the_fuzz_corpus_is_read_without_a_panic() {
    replay("tags_authors", harness::tags_authors);
}

#[test]
fn every_feed_definition_in_the_fuzz_corpus_is_checked_without_a_panic() {
    replay("feed_definition", harness::feed_definition);
}
