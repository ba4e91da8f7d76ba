//! Post dates and URL slugs from file names, and front matter dates, the way
//! `@docusaurus/plugin-content-blog` 3.10 reads them.

use std::path::Path;
use std::process::Command;
use std::sync::LazyLock;

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone, Utc};
use regex::Regex;

/// Docusaurus's `DATE_FILENAME_REGEX`: an optional folder, a date with `-` or
/// `/` separators (no zero padding required), then the slug text. Its
/// unescaped `.` before `mdx?` is kept on purpose: it is what Docusaurus does.
static DATE_FILENAME: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"^(?<folder>.*)(?<date>\d{4}[-/]\d{1,2}[-/]\d{1,2})[-/]?(?<text>.*?)(?:/index)?.mdx?$",
    )
    .expect("valid regex")
});

static NO_DATE_SUFFIX: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?:/index)?\.mdx?$").expect("valid regex"));

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedFileName {
    /// The date in the path; `Err` holds the date text when it is not a real
    /// calendar date (`2025-02-30`).
    pub date: Option<Result<DateTime<Utc>, String>>,
    /// The name part, Docusaurus's fallback title.
    pub text: String,
    /// The route below the blog path, starting with `/`.
    pub slug: String,
}

/// Docusaurus `parseBlogFileName`: `2025/07/15-nds.md` -> date 2025-07-15,
/// slug `/2025/07/15/nds`; `cat/2021-01-01-x.md` -> `/2021/01/01/cat/x`.
pub fn parse_file_name(relative: &str) -> ParsedFileName {
    if let Some(caps) = DATE_FILENAME.captures(relative) {
        let date_text = &caps["date"];
        let folder = &caps["folder"];
        let text = caps["text"].to_string();
        // Docusaurus: `new Date(dateString + "Z")`, i.e. midnight UTC.
        let date = parse_path_date(date_text).ok_or_else(|| date_text.to_string());
        let slug = format!("/{}/{folder}{text}", date_text.replace('-', "/"));
        return ParsedFileName {
            date: Some(date),
            text,
            slug,
        };
    }
    let text = NO_DATE_SUFFIX.replace(relative, "").into_owned();
    ParsedFileName {
        date: None,
        slug: format!("/{text}"),
        text,
    }
}

fn parse_path_date(text: &str) -> Option<DateTime<Utc>> {
    let mut parts = text.split(['-', '/']).map(|p| p.parse::<u32>().ok());
    let (y, m, d) = (parts.next()??, parts.next()??, parts.next()??);
    let date = NaiveDate::from_ymd_opt(y as i32, m, d)?;
    Some(date.and_hms_opt(0, 0, 0)?.and_utc())
}

/// A front matter `date`. Date-only values and date-times without an offset
/// are read in `tz` (UTC by default, which is what Docusaurus's YAML loader
/// does for unquoted timestamps).
pub fn parse_front_matter_date(text: &str, tz: chrono_tz::Tz) -> Option<DateTime<Utc>> {
    let text = text.trim();
    if let Ok(dt) = DateTime::parse_from_rfc3339(text) {
        return Some(dt.with_timezone(&Utc));
    }
    // YAML timestamps allow a space instead of `T` and a space before the zone.
    let normalized = text.replacen(' ', "T", 1).replace(" ", "");
    if let Ok(dt) = DateTime::parse_from_rfc3339(&normalized) {
        return Some(dt.with_timezone(&Utc));
    }
    for fmt in ["%Y-%m-%dT%H:%M:%S%.f%#z", "%Y-%m-%dT%H:%M%#z"] {
        if let Ok(dt) = DateTime::parse_from_str(&normalized, fmt) {
            return Some(dt.with_timezone(&Utc));
        }
    }
    let local = ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M"]
        .iter()
        .find_map(|fmt| NaiveDateTime::parse_from_str(&normalized, fmt).ok())
        .or_else(|| {
            NaiveDate::parse_from_str(text, "%Y-%m-%d")
                .ok()
                .and_then(|d| d.and_hms_opt(0, 0, 0))
        })?;
    // An ambiguous local time (DST fall-back) takes the earlier instant; a
    // skipped one (spring-forward) does not exist and is rejected.
    tz.from_local_datetime(&local)
        .earliest()
        .map(|dt| dt.with_timezone(&Utc))
}

/// Docusaurus's next fallback: the date of the commit that first added the
/// file, when the blog lives in a git repository.
pub fn git_first_commit_date(path: &Path) -> Option<DateTime<Utc>> {
    let dir = path.parent()?;
    let output = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["log", "--follow", "--format=%ct", "--"])
        .arg(path.file_name()?)
        .output()
        .ok()?;
    if !output.status.success() {
        return None;
    }
    let text = String::from_utf8(output.stdout).ok()?;
    let oldest = text.lines().rfind(|l| !l.is_empty())?;
    Utc.timestamp_opt(oldest.trim().parse().ok()?, 0).single()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ymd(y: i32, m: u32, d: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, 0, 0, 0).unwrap()
    }

    #[test]
    fn file_names_give_dates_and_slugs_as_docusaurus() {
        let cases = [
            (
                "2025/07/15-nds.md",
                Some(ymd(2025, 7, 15)),
                "/2025/07/15/nds",
                "nds",
            ),
            (
                "2026/07/2-tools.md",
                Some(ymd(2026, 7, 2)),
                "/2026/07/2/tools",
                "tools",
            ),
            (
                "2021-01-05-flat.mdx",
                Some(ymd(2021, 1, 5)),
                "/2021/01/05/flat",
                "flat",
            ),
            (
                "2021-01-05-dir/index.md",
                Some(ymd(2021, 1, 5)),
                "/2021/01/05/dir",
                "dir",
            ),
            (
                "2021/1/5/dir/index.mdx",
                Some(ymd(2021, 1, 5)),
                "/2021/1/5/dir",
                "dir",
            ),
            (
                "cat/2021-01-05-x.md",
                Some(ymd(2021, 1, 5)),
                "/2021/01/05/cat/x",
                "x",
            ),
            ("no-date.md", None, "/no-date", "no-date"),
            ("folder/index.md", None, "/folder", "folder"),
        ];
        for (path, date, slug, text) in cases {
            let p = parse_file_name(path);
            assert_eq!(p.date.map(|d| d.unwrap()), date, "{path}");
            assert_eq!(p.slug, slug, "{path}");
            assert_eq!(p.text, text, "{path}");
        }
    }

    #[test]
    fn an_impossible_date_in_a_file_name_is_reported() {
        let p = parse_file_name("2025-02-30-x.md");
        assert_eq!(p.date, Some(Err("2025-02-30".to_string())));
    }

    #[test]
    fn front_matter_dates_without_offset_are_read_in_the_configured_zone() {
        let utc = chrono_tz::UTC;
        let ams: chrono_tz::Tz = "Europe/Amsterdam".parse().unwrap();
        assert_eq!(
            parse_front_matter_date("2025-06-01", utc),
            Some(ymd(2025, 6, 1))
        );
        assert_eq!(
            parse_front_matter_date("2025-06-01T14:30:00", utc),
            Some(Utc.with_ymd_and_hms(2025, 6, 1, 14, 30, 0).unwrap())
        );
        assert_eq!(
            parse_front_matter_date("2025-06-01 14:30", ams),
            Some(Utc.with_ymd_and_hms(2025, 6, 1, 12, 30, 0).unwrap())
        );
        assert_eq!(
            parse_front_matter_date("2025-06-01T14:30:00+02:00", utc),
            Some(Utc.with_ymd_and_hms(2025, 6, 1, 12, 30, 0).unwrap())
        );
        assert_eq!(
            parse_front_matter_date("2025-06-01T14:30:00.000Z", ams),
            Some(Utc.with_ymd_and_hms(2025, 6, 1, 14, 30, 0).unwrap())
        );
        assert_eq!(parse_front_matter_date("June 1st", utc), None);
        assert_eq!(parse_front_matter_date("2025-13-01", utc), None);
    }
}
