//! What the CLI writes for machines: every `--json` output is one JSON
//! document (also for several blogs, and with `--dry-run`), and a dry run
//! leaves every byte on disk as it was.

use serde_json::Value;

use crate::helpers::*;

const FIRST: &str = "2025-06-02T00:00:00Z";
const LATER: &str = "2025-06-10T00:00:00Z";

fn blog_with_subscribers() -> TestBlog {
    let blog = TestBlog::new(ONE_READER_BY_FILE);
    blog.write(
        "2025-06-01-first.md",
        "---\ntitle: First\ntags: [news]\n---\nThe first post.\n",
    );
    blog
}

fn parse(what: &str, run: &Run) -> Value {
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    serde_json::from_str(&run.stdout).unwrap_or_else(|e| {
        panic!(
            "{what}: stdout is not one JSON document: {e}\n{}\n{}",
            run.stdout, run.stderr
        )
    })
}

#[test]
fn a_dry_run_prints_one_json_document_and_changes_no_byte_on_disk() {
    let blog = blog_with_subscribers();
    let first = blog.run(&["--now", FIRST, "run", "--json"]);
    assert_eq!(first.code, 0, "{}", first.stderr);
    assert_eq!(parse("run --json", &first)["first_run"], true);
    blog.write(
        "2025-06-05-second.md",
        "---\ntitle: Second\ntags: [news]\n---\nThe second post.\n",
    );
    let before = tree(blog.path());

    let dry = blog.run(&["--now", LATER, "notify", "--dry-run", "--json"]);
    assert_eq!(dry.code, 0, "{}", dry.stderr);
    let summary = parse("notify --dry-run --json", &dry);
    assert_eq!(summary["dry_run"], true);
    assert_eq!(summary["sent"], 0);
    let would = summary["would_send"].as_array().expect("would_send");
    assert_eq!(would.len(), 1, "{summary}");
    assert_eq!(would[0]["subscriber"], "reader");
    assert_eq!(tree(blog.path()), before, "a dry run changed files on disk");

    // The same without --json: the lines go to stdout, still nothing written.
    let text = blog.run(&["--now", LATER, "notify", "--dry-run"]);
    assert_eq!(text.code, 0, "{}", text.stderr);
    assert!(text.stdout.contains("would send"), "{}", text.stdout);
    assert_eq!(tree(blog.path()), before);

    // And the real run sends what the dry run showed.
    let real = blog.run(&["--now", LATER, "notify", "--json"]);
    assert_eq!(parse("notify --json", &real)["sent"], 1);
}

#[test]
fn a_dry_run_without_a_state_creates_none() {
    let blog = blog_with_subscribers();
    let dry = blog.run(&["--now", FIRST, "notify", "--dry-run", "--json"]);
    assert_eq!(dry.code, 0, "{}", dry.stderr);
    assert_eq!(parse("notify --dry-run --json", &dry)["first_run"], true);
    assert!(!blog.path().join("state.db").exists());
    assert!(!blog.path().join("outbox").exists());
}

#[test]
fn json_output_for_several_blogs_is_one_array() {
    let blog = blog_with_subscribers();
    let second = blog.path().join("other.toml");
    let text = std::fs::read_to_string(blog.toml())
        .unwrap()
        .replace("state.db", "other.db")
        .replace("output = \"out\"", "output = \"other-out\"");
    std::fs::write(&second, text).unwrap();
    let files = [blog.toml(), second];
    let args = |cmd: &[&str]| -> Vec<String> {
        let mut a: Vec<String> = ["--now", FIRST].iter().map(|s| s.to_string()).collect();
        a.extend(cmd.iter().map(|s| s.to_string()));
        a.extend(files.iter().map(|f| f.display().to_string()));
        a
    };
    let run = |cmd: &[&str]| {
        let a = args(cmd);
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        postbode_in(blog.path(), &a)
    };

    let notified = run(&["run", "--json"]);
    assert_eq!(notified.code, 0, "{}", notified.stderr);
    let all = parse("run --json, two blogs", &notified);
    let names: Vec<&str> = all
        .as_array()
        .expect("an array for two blogs")
        .iter()
        .map(|s| s["blog"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["feeds", "other"]);

    let status = run(&["status", "--json"]);
    assert_eq!(status.code, 0, "{}", status.stderr);
    let status = parse("status --json", &status);
    assert!(status["deliveries"].is_array(), "{status}");
    assert!(status["disabled_subscribers"].is_array(), "{status}");
}

#[test]
fn posts_lists_days_in_the_blogs_time_zone() {
    let blog = TestBlog::new("timezone = \"Europe/Amsterdam\"\n");
    // Half past midnight in Amsterdam is still the old year in UTC.
    blog.write(
        "new-year.md",
        "---\ntitle: New year\ndate: 2099-01-01T00:30:00+01:00\n---\nText.\n",
    );
    let run = blog.run(&["--now", FIRST, "posts"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let line = run
        .stdout
        .lines()
        .find(|l| l.contains("new-year"))
        .unwrap_or_else(|| panic!("{}", run.stdout));
    assert!(line.starts_with("2099-01-01"), "{line}");
}

#[test]
fn preview_takes_a_permalink_with_a_trailing_slash_and_says_when_a_post_is_a_draft() {
    let blog = blog_with_subscribers();
    blog.write(
        "2025-06-03-draft.md",
        "---\ntitle: Not yet\ndraft: true\n---\nText.\n",
    );
    let args = |post: &str| {
        [
            "--now",
            LATER,
            "preview",
            "--post",
            post,
            "--subscriber",
            "reader",
        ]
        .map(String::from)
    };
    let a = args("/blog/2025/06/01/first/");
    let published = blog.run(&a.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(published.code, 0, "{}", published.stderr);
    assert!(
        published.stdout.contains("Subject:"),
        "{}",
        published.stdout
    );
    assert!(
        !published.stderr.contains("not published"),
        "{}",
        published.stderr
    );

    let a = args("/blog/2025/06/03/draft");
    let draft = blog.run(&a.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(draft.code, 0, "{}", draft.stderr);
    assert!(
        draft.stderr.contains("is not published (it is a draft)"),
        "{}",
        draft.stderr
    );
}

#[test]
fn a_subscribers_file_in_feeds_is_not_taken_for_a_blog() {
    let blog = TestBlog::new("");
    blog.write("2025-06-01-first.md", "---\ntitle: First\n---\nText.\n");
    let feeds = blog.path().join("feeds");
    std::fs::create_dir_all(&feeds).unwrap();
    std::fs::write(
        feeds.join("blog.toml"),
        "title = \"Test blog\"\nsite_url = \"https://example.org\"\nsource = \"../blog\"\noutput = \"../out\"\nstate = \"../state.db\"\nsubscribers = \"people.toml\"\n",
    )
    .unwrap();
    std::fs::write(
        feeds.join("people.toml"),
        "[[subscribers]]\nid = \"a\"\nemail = \"a@example.org\"\n",
    )
    .unwrap();
    // `run` without arguments: every feed definition in feeds/.
    let run = postbode_in(blog.path(), &["--now", FIRST, "build"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(blog.out().join("atom.xml").exists());
    assert!(!run.stderr.contains("people.toml"), "{}", run.stderr);
}

#[test]
fn logs_to_a_file_or_pipe_carry_no_colour_codes() {
    let blog = blog_with_subscribers();
    let run = blog.run_with_env(&["--now", FIRST, "run"], &[("POSTBODE_LOG", "info")]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.contains("INFO"), "{}", run.stderr);
    assert!(
        !run.stderr.contains('\u{1b}'),
        "ANSI codes in: {:?}",
        run.stderr
    );
}

#[test]
fn a_first_run_says_how_many_published_posts_it_recorded_without_announcing() {
    let blog = blog_with_subscribers();
    blog.write("2025-05-01-older.md", "---\ntitle: Older\n---\nText.\n");
    let run = blog.run(&["--now", FIRST, "notify"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("first run: 2 published posts recorded without announcing"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("0 new posts, 0 deliveries planned"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_stray_toml_file_in_feeds_is_named_with_what_to_do() {
    let blog = TestBlog::new("");
    let feeds = blog.path().join("feeds");
    std::fs::create_dir_all(&feeds).unwrap();
    std::fs::write(feeds.join("rustfmt.toml"), "max_width = 100\n").unwrap();
    let run = postbode_in(blog.path(), &["check"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("is no feed definition")
            && run.stderr.contains("move it out of feeds/"),
        "{}",
        run.stderr
    );
}
