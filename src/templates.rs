//! The words of every notification: email subjects and bodies, webhook
//! bodies. Built-in templates are embedded from `templates/` at compile time
//! so the binary needs no files beside it; a site may replace any of them by
//! a file with the same relative name in an override folder
//! (`<dir>/email/nl/subject.txt`), keeping the others built in.
//!
//! Escaping follows the file name: HTML-escaped for `.html`, JSON values for
//! `.json` (a `{{ title }}` prints `"a \"quoted\" title"`, quotes included),
//! nothing for `.txt`. A `date` filter writes a post date the way a reader
//! of the language expects: `{{ post.date | date(language) }}` gives
//! `14 juli 2025` or `14 July 2025`.

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Datelike, NaiveDate};
use minijinja::syntax::SyntaxConfig;

use crate::config::subscribers::Language;
use minijinja::{AutoEscape, Environment, Error, ErrorKind, UndefinedBehavior, escape_formatter};

/// Every built-in template: its name (also its path under `templates/` and
/// under an override folder) and its text.
const BUILT_IN: &[(&str, &str)] = &[
    (
        "email/nl/subject.txt",
        include_str!("../templates/email/nl/subject.txt"),
    ),
    (
        "email/nl/body.txt",
        include_str!("../templates/email/nl/body.txt"),
    ),
    (
        "email/nl/body.html",
        include_str!("../templates/email/nl/body.html"),
    ),
    (
        "email/en/subject.txt",
        include_str!("../templates/email/en/subject.txt"),
    ),
    (
        "email/en/body.txt",
        include_str!("../templates/email/en/body.txt"),
    ),
    (
        "email/en/body.html",
        include_str!("../templates/email/en/body.html"),
    ),
    (
        "webhook/slack.json",
        include_str!("../templates/webhook/slack.json"),
    ),
    (
        "webhook/teams.json",
        include_str!("../templates/webhook/teams.json"),
    ),
    (
        "webhook/mattermost.json",
        include_str!("../templates/webhook/mattermost.json"),
    ),
    (
        "webhook/discord.json",
        include_str!("../templates/webhook/discord.json"),
    ),
];

#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("{}: cannot read template: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// `origin` is the override file, or `built-in <name>`.
    #[error("{origin}: {source}")]
    Syntax {
        origin: String,
        source: minijinja::Error,
    },
    #[error("template {name}: {source}")]
    Render {
        name: String,
        source: minijinja::Error,
    },
}

/// The loaded templates, ready to render; cheap to share by reference.
#[derive(Debug)]
pub struct Templates {
    env: Environment<'static>,
}

impl Templates {
    /// Built-in templates (embedded with include_str! from templates/…), each
    /// overridable by a file of the same relative name in `override_dir`
    /// (e.g. `<dir>/email/nl/subject.txt`).
    pub fn load(override_dir: Option<&Path>) -> Result<Templates, TemplateError> {
        Templates::load_set(override_dir, BUILT_IN)
    }

    /// Like [`Templates::load`] for another set of built-in templates (the
    /// subscription pages of `postbode serve` have their own), overridden
    /// from the same folder the same way.
    pub fn load_set(
        override_dir: Option<&Path>,
        built_in: &[(&'static str, &'static str)],
    ) -> Result<Templates, TemplateError> {
        let mut env = environment();
        env.add_filter("date", date_filter);

        for &(name, text) in built_in {
            let (origin, source): (String, Cow<'static, str>) = match override_dir
                .map(|dir| dir.join(name))
            {
                Some(path) if path.is_file() => {
                    let text =
                        std::fs::read_to_string(&path).map_err(|source| TemplateError::Read {
                            path: path.clone(),
                            source,
                        })?;
                    (path.display().to_string(), Cow::Owned(text))
                }
                _ => (format!("built-in {name}"), Cow::Borrowed(text)),
            };
            env.add_template_owned(name, source)
                .map_err(|source| TemplateError::Syntax { origin, source })?;
        }
        Ok(Templates { env })
    }

    /// Renders template `name` (like `email/nl/body.html`) with `ctx`.
    pub fn render(&self, name: &str, ctx: &serde_json::Value) -> Result<String, TemplateError> {
        let render_error = |source| TemplateError::Render {
            name: name.to_string(),
            source,
        };
        self.env
            .get_template(name)
            .map_err(render_error)?
            .render(minijinja::value::Serde(ctx))
            .map_err(render_error)
    }
}

/// The minijinja set-up every template of postbode shares (messages, the
/// feeds index): escaping by file name (`.html` HTML, `.json` JSON values,
/// anything else none), block tags that leave no blank lines behind (plain
/// text mail and JSON need that; a file's final newline stays), and strict
/// variables, so a misspelt name fails loudly instead of printing nothing.
pub fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    let syntax = SyntaxConfig::builder()
        .trim_blocks(true)
        .lstrip_blocks(true)
        .keep_trailing_newline(true)
        .build()
        .expect("the default delimiters are a valid syntax");
    env.set_syntax(syntax);
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_auto_escape_callback(|name| match name.rsplit('.').next() {
        Some("html") => AutoEscape::Html,
        Some("json") => AutoEscape::Json,
        _ => AutoEscape::None,
    });
    env.set_formatter(|out, state, value| match value.as_str() {
        // minijinja's HTML escaping also writes `/` as `&#x2f;`: valid, but
        // it bloats every URL and makes feed addresses people copy from a
        // page's source unreadable. `&<>"'` suffice in text and in quoted
        // attributes.
        Some(text) if *state.auto_escape() == AutoEscape::Html && !value.is_safe() => out
            .write_str(&crate::text::escape_html(text))
            .map_err(|_| Error::new(ErrorKind::WriteFailure, "writing a template")),
        _ => escape_formatter(out, state, value),
    });
    env
}

const MONTHS_NL: [&str; 12] = [
    "januari",
    "februari",
    "maart",
    "april",
    "mei",
    "juni",
    "juli",
    "augustus",
    "september",
    "oktober",
    "november",
    "december",
];

const MONTHS_EN: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// `{{ post.date | date("nl") }}`: an RFC 3339 date (or a plain
/// `YYYY-MM-DD`) as `14 juli 2025`; `en` gives `14 July 2025`. The day is
/// the UTC day, as in the feeds (Docusaurus: a date-only front matter date
/// is UTC midnight).
fn date_filter(value: &str, language: Option<&str>) -> Result<String, Error> {
    let day = DateTime::parse_from_rfc3339(value)
        .map(|d| d.to_utc().date_naive())
        .or_else(|_| NaiveDate::parse_from_str(value, "%Y-%m-%d"))
        .map_err(|_| {
            Error::new(
                ErrorKind::InvalidOperation,
                format!("date: {value:?} is not an RFC 3339 date"),
            )
        })?;
    let language = match language.unwrap_or("nl") {
        "nl" => Language::Nl,
        "en" => Language::En,
        other => {
            return Err(Error::new(
                ErrorKind::InvalidOperation,
                format!("date: unknown language {other:?} (nl or en)"),
            ));
        }
    };
    Ok(day_text(day, language))
}

/// `14 juli 2025` / `14 July 2025`: how messages write a day.
pub(crate) fn day_text(day: NaiveDate, language: Language) -> String {
    let months = match language {
        Language::Nl => &MONTHS_NL,
        Language::En => &MONTHS_EN,
    };
    format!(
        "{} {} {}",
        day.day(),
        months[day.month0() as usize],
        day.year()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ctx(title: &str) -> serde_json::Value {
        json!({ "posts": [{ "title": title, "date": "2025-07-14T09:30:00Z" }] })
    }

    #[test]
    fn every_built_in_template_parses_and_is_reachable_by_name() {
        let templates = Templates::load(None).unwrap();
        for (name, _) in BUILT_IN {
            assert!(templates.env.get_template(name).is_ok(), "{name}");
        }
    }

    #[test]
    fn escaping_follows_the_file_extension() {
        let dir = tempfile::tempdir().unwrap();
        for name in [
            "email/nl/subject.txt",
            "email/nl/body.html",
            "webhook/slack.json",
        ] {
            let path = dir.path().join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, "{{ posts[0].title }}").unwrap();
        }
        let templates = Templates::load(Some(dir.path())).unwrap();
        let title = r#"AT&T <3 "quotes" / slash"#;
        assert_eq!(
            templates
                .render("email/nl/subject.txt", &ctx(title))
                .unwrap(),
            title
        );
        assert_eq!(
            templates.render("email/nl/body.html", &ctx(title)).unwrap(),
            "AT&amp;T &lt;3 &quot;quotes&quot; / slash"
        );
        let json_text = templates.render("webhook/slack.json", &ctx(title)).unwrap();
        assert_eq!(
            serde_json::from_str::<String>(&json_text).unwrap(),
            title,
            "{json_text}"
        );
    }

    #[test]
    fn an_override_replaces_only_its_own_template() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("email/en")).unwrap();
        std::fs::write(
            dir.path().join("email/en/subject.txt"),
            "Fresh: {{ posts[0].title }}",
        )
        .unwrap();
        let templates = Templates::load(Some(dir.path())).unwrap();
        let ctx = json!({
            "blog": { "title": "Blog" },
            "posts": [{ "title": "Hello" }],
            "digest": false,
        });
        assert_eq!(
            templates.render("email/en/subject.txt", &ctx).unwrap(),
            "Fresh: Hello"
        );
        assert_eq!(
            templates
                .render("email/nl/subject.txt", &ctx)
                .unwrap()
                .trim(),
            "Nieuw op Blog: Hello"
        );
    }

    #[test]
    fn a_broken_override_is_reported_with_its_path() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("email/nl")).unwrap();
        let path = dir.path().join("email/nl/body.txt");
        std::fs::write(&path, "{% if %}").unwrap();
        let err = Templates::load(Some(dir.path())).unwrap_err().to_string();
        assert!(err.starts_with(&path.display().to_string()), "{err}");
    }

    #[test]
    fn dates_are_written_in_the_readers_language() {
        for (value, language, expected) in [
            ("2025-07-14T09:30:00Z", "nl", "14 juli 2025"),
            ("2025-07-14T09:30:00Z", "en", "14 July 2025"),
            ("2025-03-01", "nl", "1 maart 2025"),
            // The UTC day, as the feeds show it.
            ("2025-12-31T23:30:00-02:00", "en", "1 January 2026"),
        ] {
            assert_eq!(date_filter(value, Some(language)).unwrap(), expected);
        }
        assert!(date_filter("yesterday", Some("nl")).is_err());
        assert!(date_filter("2025-07-14", Some("de")).is_err());
    }

    #[test]
    fn a_misspelt_variable_is_an_error_not_an_empty_line() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("email/nl")).unwrap();
        std::fs::write(dir.path().join("email/nl/subject.txt"), "{{ post.titel }}").unwrap();
        let templates = Templates::load(Some(dir.path())).unwrap();
        let err = templates
            .render("email/nl/subject.txt", &ctx("x"))
            .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("template email/nl/subject.txt:")
        );
    }
}
