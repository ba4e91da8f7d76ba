//! `postbode subscribers`: the operator's list, marked by origin, and the
//! privacy duties: import with consent, export one person, erase one
//! person. Real binary, real state.

use crate::helpers::*;

const DEFINITION: &str = r#"state = "state.db"

[email]
from = "noreply@example.org"
transport = "file"
outbox = "outbox"

[[subscribers]]
id = "team"
email = "team@example.org"
"#;

#[test]
fn import_list_export_and_remove_one_person() {
    let blog = TestBlog::new(DEFINITION);
    let list = blog.path().join("list.csv");
    std::fs::write(
        &list,
        "# consent by the newsletter form of 2024\nann@example.org,api;nds,,weekly\nnot an address\nBen@Example.org\nann@example.org\n",
    )
    .unwrap();
    let toml = blog.toml();
    let toml = toml.to_str().unwrap();
    let run = blog.run_with_env(&["subscribers", "import"], &[]);
    assert_ne!(run.code, 0, "needs a file");
    let run = postbode_with_env(
        blog.path(),
        &[
            "--now",
            "2026-01-01T00:00:00Z",
            "subscribers",
            "import",
            toml,
            list.to_str().unwrap(),
        ],
        &blog
            .state_env()
            .iter()
            .map(|(k, v)| (*k, v.as_str()))
            .collect::<Vec<_>>(),
    );
    assert_eq!(run.code, 1, "one bad line: {}", run.stderr);
    assert!(
        run.stderr.contains(&format!(
            "{}:3: \"not an address\" is not an email address",
            list.display()
        )),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("imported 2 addresses, 1 already subscribed"),
        "{}",
        run.stderr
    );

    let run = blog.run(&["subscribers", "list", "--json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let doc: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let rows = doc["subscribers"].as_array().unwrap();
    let summary: Vec<(String, String, String)> = rows
        .iter()
        .map(|r| {
            let s = |k: &str| r[k].as_str().unwrap_or_default().to_string();
            (s("to"), s("origin"), s("status"))
        })
        .collect();
    assert_eq!(
        summary,
        [
            (
                "team@example.org".into(),
                "definition".into(),
                "active".into()
            ),
            ("ann@example.org".into(), "serve".into(), "confirmed".into()),
            ("Ben@Example.org".into(), "serve".into(), "confirmed".into()),
        ]
    );
    assert_eq!(rows[1]["tags"], serde_json::json!(["api", "nds"]));
    assert_eq!(rows[1]["digest"], "weekly");

    let run = postbode_in(
        blog.path(),
        &["subscribers", "export", toml, "--email", "ben@example.org"],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let export: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(export["subscription"]["target"], "Ben@Example.org");
    assert!(export["subscription"]["confirmed_at"].is_string());
    assert_eq!(export["sent"], serde_json::json!([]));
    let id = rows[2]["id"].as_str().unwrap().to_string();

    let run = postbode_in(blog.path(), &["subscribers", "remove", toml, "--id", &id]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let run = postbode_in(blog.path(), &["subscribers", "export", toml, "--id", &id]);
    assert_eq!(run.code, 2, "erased: {}", run.stderr);
    let run = postbode_in(
        blog.path(),
        &["subscribers", "remove", toml, "--id", "team"],
    );
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("removed from its file"),
        "{}",
        run.stderr
    );
    let state = std::fs::read(blog.path().join("state.db")).unwrap();
    assert!(
        !String::from_utf8_lossy(&state)
            .to_lowercase()
            .contains("ben@example.org"),
        "the address is gone from the state file"
    );
}
