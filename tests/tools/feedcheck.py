#!/usr/bin/env python3
"""feedcheck: an independent checker for the feeds postbode writes.

The W3C Feed Validation Service (validator.w3.org/feed) is the reference for
"is this feed right", but it cannot be installed here, so this script checks
the same things it reports as errors or warnings (rules re-implemented from
its documented behaviour, not its code), plus the JSON Feed 1.1 spec and the
OPML file. Feeds are also parsed back with Python's `feedparser`, a parser
that shares no code with postbode.

    feedcheck.py OUTPUT_DIR --feeds-url URL [--json] [--now RFC3339] [--ignore CODE]

It walks every atom.xml, rss.xml, feed.json and feeds.opml under OUTPUT_DIR.
`--feeds-url` is the public URL OUTPUT_DIR is served at: the self link of
OUTPUT_DIR/tags/api/atom.xml must be exactly URL/tags/api/atom.xml.
Each problem is printed as `path: [error|warning] Code: message`, then
`feedcheck: N files, E errors, W warnings`. With `--json` one JSON object
is printed instead: {"files": N, "problems": [...], "entries": {relpath: [ids]}}.
Exit status: 0 no problem, 1 any error or warning, 2 could not run.

Dates after `--now` (default: the clock) plus one day are "implausible" to
the W3C validator; pass the same `--now` as postbode when a test pins time.
"""

from __future__ import annotations

import argparse
import datetime as dt
import email.utils
import json
import os
import re
import sys
import unicodedata
import xml.etree.ElementTree as ET
from dataclasses import asdict, dataclass
from html.parser import HTMLParser
from urllib.parse import quote, quote_plus, unquote, unquote_plus

try:
    import feedparser
except ImportError:  # pragma: no cover - reported as a usage error below
    feedparser = None

FEED_NAMES = ("atom.xml", "rss.xml", "feed.json", "feeds.opml")

ATOM_NS = "http://www.w3.org/2005/Atom"
XHTML_NS = "http://www.w3.org/1999/xhtml"
CONTENT_NS = "http://purl.org/rss/1.0/modules/content/"
DC_NS = "http://purl.org/dc/elements/1.1/"
XML_NS = "http://www.w3.org/XML/1998/namespace"
A = "{%s}" % ATOM_NS
JSONFEED_VERSION = "https://jsonfeed.org/version/1.1"

# Prefixes whose namespace everybody expects; a typo in the URI silently
# turns `atom:link` into an unknown extension element.
WELL_KNOWN_PREFIXES = {
    "atom": ATOM_NS,
    "dc": DC_NS,
    "content": CONTENT_NS,
    "dcterms": "http://purl.org/dc/terms/",
    "media": "http://search.yahoo.com/mrss/",
    "xhtml": XHTML_NS,
}

ATOM_FEED_CHILDREN = {
    "author", "category", "contributor", "generator", "icon", "id", "link",
    "logo", "rights", "subtitle", "title", "updated", "entry",
}
ATOM_FEED_SINGLE = {"generator", "icon", "id", "logo", "rights", "subtitle", "title", "updated"}
ATOM_ENTRY_CHILDREN = {
    "author", "category", "content", "contributor", "id", "link", "published",
    "rights", "source", "summary", "title", "updated",
}
ATOM_ENTRY_SINGLE = {"content", "id", "published", "rights", "source", "summary", "title", "updated"}
# RFC 4287 names plus the IANA link relations registry entries a blog uses.
ATOM_LINK_RELS = {
    "alternate", "related", "self", "enclosure", "via", "first", "last",
    "next", "previous", "prev", "current", "replies", "license", "edit",
    "edit-media", "hub", "payment", "search", "service", "up", "archives",
}

RSS_CHANNEL_CHILDREN = {
    "title", "link", "description", "language", "copyright", "managingEditor",
    "webMaster", "pubDate", "lastBuildDate", "category", "generator", "docs",
    "cloud", "ttl", "image", "rating", "textInput", "skipHours", "skipDays", "item",
}
RSS_CHANNEL_SINGLE = RSS_CHANNEL_CHILDREN - {"category", "item"}
RSS_ITEM_CHILDREN = {
    "title", "link", "description", "author", "category", "comments",
    "enclosure", "guid", "pubDate", "source",
}
RSS_ITEM_SINGLE = {"title", "link", "description", "author", "comments", "guid", "pubDate", "source"}
DC_ELEMENTS = {
    "title", "creator", "subject", "description", "publisher", "contributor",
    "date", "type", "format", "identifier", "source", "language", "relation",
    "coverage", "rights",
}

JSONFEED_TOP_KEYS = {
    "version", "title", "home_page_url", "feed_url", "description",
    "user_comment", "next_url", "icon", "favicon", "authors", "author",
    "language", "expired", "hubs", "items",
}
JSONFEED_ITEM_KEYS = {
    "id", "url", "external_url", "title", "content_html", "content_text",
    "summary", "image", "banner_image", "date_published", "date_modified",
    "authors", "author", "tags", "language", "attachments",
}

# The W3C validator parses escaped HTML with an HTML 4 vocabulary: other
# elements get "Non-html tag"; HTML 4 elements outside its safe list get
# "potentially dangerous"; so do attributes outside its safe list.
HTML4_ELEMENTS = set("""
a abbr acronym address applet area b base basefont bdo big blockquote body br
button caption center cite code col colgroup dd del dfn dir div dl dt em
fieldset font form frame frameset h1 h2 h3 h4 h5 h6 head hr html i iframe img
input ins isindex kbd label legend li link map menu meta noframes noscript
object ol optgroup option p param pre q s samp script select small span strike
strong style sub sup table tbody td textarea tfoot th thead title tr tt u ul
var xmp plaintext embed comment listing
""".split())
SAFE_ELEMENTS = set("""
a abbr acronym address area b big blockquote br button caption center cite
code col colgroup dd del dfn dir div dl dt em fieldset font form h1 h2 h3 h4
h5 h6 hr i img input ins kbd label legend li map menu ol optgroup option p pre
q s samp select small span strike strong sub sup table tbody td textarea tfoot
th thead tr tt u ul var noscript
""".split())
SAFE_ATTRIBUTES = set("""
abbr accept accept-charset accesskey action align alt axis bgcolor border
cellpadding cellspacing char charoff charset checked cite class clear cols
colspan color compact coords datetime dir disabled enctype face for frame
headers height href hreflang hspace id ismap label lang longdesc maxlength
media method multiple name nohref noshade nowrap prompt readonly rel rev rows
rowspan rules scope selected shape size span src start summary tabindex target
title type usemap valign value vspace width xml:lang xmlns
""".split())
URL_ATTRIBUTES = {"href", "src", "poster", "srcset", "cite", "longdesc", "action",
                  "background", "data", "formaction", "xlink:href"}
VOID_ELEMENTS = {"area", "base", "basefont", "br", "col", "embed", "frame", "hr", "img",
                 "input", "isindex", "link", "meta", "param", "source", "track", "wbr"}
# HTML lets these end tags be left out.
OPTIONAL_END = {"p", "li", "dt", "dd", "tr", "td", "th", "thead", "tbody", "tfoot",
                "option", "optgroup", "colgroup", "caption", "html", "head", "body"}

SCHEME_RE = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*):")
# RFC 2396 characters, what the validator accepts in RSS URLs and Atom ids.
RFC2396_RE = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:(//)?[0-9A-Za-z;/?:@&=+$.\-_!~*'()%,#]+$")
URN_RE = re.compile(r"^urn:[A-Za-z0-9][A-Za-z0-9-]{1,31}:([A-Za-z0-9()+,.:=@;$_!*'\-]|%[0-9A-Fa-f]{2})+$")
TAG_URI_RE = re.compile(r"^tag:([a-z0-9\-._]+?@)?[a-z0-9.\-]+?,\d{4}(-\d{2}(-\d{2})?)?:[0-9A-Za-z;/?:@&=+$.\-_!~*'()%,]*(#[0-9A-Za-z;/?:@&=+$.\-_!~*'()%,]*)?$")
EMAIL_RE = re.compile(r"^[A-Za-z0-9_\-+.']+@(\[[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.|([A-Za-z0-9\-]+\.)+)([A-Za-z]{2,}|[0-9]{1,3})\]?$")
MIME_RE = re.compile(r'^[^\s()<>,;:\\"/\[\]?=]+/[^\s()<>,;:\\"/\[\]?=]+(\s*;\s*[^\s()<>,;:\\"/\[\]?=]+=("[^"]*"|[^\s()<>,;:\\"/\[\]?=]+))*$')
RFC3339_RE = re.compile(r"^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)$")
DAYS = "Mon|Tue|Wed|Thu|Fri|Sat|Sun"
MONTHS = "Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec"
ZONES = r"[+-]\d{4}|UT|GMT|EST|EDT|CST|CDT|MST|MDT|PST|PDT"
# RFC 822 as the validator reads it (lenient: 2-digit years, military zones)...
RFC822_LAX_RE = re.compile(rf"^(({DAYS})\s*,\s*)?\d\d?\s+({MONTHS})\s+\d\d(\d\d)?\s+\d\d:\d\d(:\d\d)?\s+(({ZONES})|[A-Za-z])$")
# ...and as RFC 2822 wants it; the space between is a warning.
RFC822_STRICT_RE = re.compile(rf"^(({DAYS}), )?\d\d? ({MONTHS}) \d{{4}} \d\d:\d\d(:\d\d)? ({ZONES}|Z)$")
HTML_END_TAG_RE = re.compile(r"</(\w+)>")
HTML_ENTITY_RE = re.compile(r"&#?\w+;")
LANG_RE = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$")


@dataclass
class Problem:
    path: str
    level: str  # "error" | "warning"
    code: str
    message: str


class Report:
    """Collects problems and entry ids for every checked file."""

    def __init__(self, ignore: set[str]):
        self.ignore = ignore
        self.problems: list[Problem] = []
        self.entries: dict[str, list[str]] = {}

    def add(self, path: str, level: str, code: str, message: str) -> None:
        if code not in self.ignore:
            self.problems.append(Problem(path, level, code, message))


class FileCheck:
    """Context for one file: its relative path, expected self URL and clock."""

    def __init__(self, report: Report, rel: str, expected_self: str, now: dt.datetime):
        self.report = report
        self.rel = rel
        self.expected_self = expected_self
        self.now = now

    def error(self, code: str, message: str) -> None:
        self.report.add(self.rel, "error", code, message)

    def warning(self, code: str, message: str) -> None:
        self.report.add(self.rel, "warning", code, message)

    # --- values -----------------------------------------------------------

    def url(self, value: str | None, where: str, *, rfc2396: bool = False) -> bool:
        """Reports a URL that is missing, relative or malformed."""
        if value is None or value == "":
            self.error("MissingValue", f"{where}: empty URL")
            return False
        if value != value.strip():
            self.error("UnexpectedWhitespace", f"{where}: URL {value!r} has surrounding whitespace")
            return False
        m = SCHEME_RE.match(value)
        if not m:
            self.error("RelativeURL", f"{where}: {value!r} is not an absolute URL")
            return False
        scheme = m.group(1).lower()
        if scheme in ("http", "https") and not re.match(r"^[A-Za-z]+://[^/]", value):
            self.error("InvalidLink", f"{where}: {value!r} has no host")
            return False
        if re.search(r"[\s<>\"{}|\\^`]", value):
            self.error("InvalidLink", f"{where}: {value!r} contains characters not allowed in a URL")
            return False
        if rfc2396 and scheme not in ("urn", "tag") and not RFC2396_RE.match(value):
            self.error("InvalidLink", f"{where}: {value!r} is not a valid RFC 2396 URI (percent-encode non-ASCII and brackets)")
            return False
        return True

    def identifier(self, value: str | None, where: str) -> bool:
        """Atom ids: a full URI (or URN/tag URI) in canonical form."""
        if not value:
            self.error("MissingValue", f"{where}: empty id")
            return False
        if value != value.strip():
            self.error("UnexpectedWhitespace", f"{where}: id {value!r} has surrounding whitespace")
            return False
        scheme = value.split(":", 1)[0].lower() if ":" in value else ""
        if scheme == "urn":
            if not URN_RE.match(value):
                self.error("InvalidURN", f"{where}: {value!r} is not a valid URN")
                return False
            return True
        if scheme == "tag":
            if not TAG_URI_RE.match(value):
                self.error("InvalidTAG", f"{where}: {value!r} is not a valid tag: URI")
                return False
            return True
        if not self.url(value, where, rfc2396=True):
            return False
        canonical = canonical_uri(value)
        if canonical != value:
            self.warning("NonCanonicalURI", f"{where}: {value!r} is not in canonical form ({canonical!r})")
        return True

    def rfc3339(self, value: str | None, where: str) -> dt.datetime | None:
        if value is None or not RFC3339_RE.match(value):
            self.error("InvalidRFC3339Date", f"{where}: {value!r} is not an RFC 3339 date-time (like 2025-07-15T00:00:00Z)")
            return None
        try:
            parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError as e:
            self.error("InvalidRFC3339Date", f"{where}: {value!r}: {e}")
            return None
        self.plausible(parsed, value, where)
        return parsed

    def rfc822(self, value: str | None, where: str) -> dt.datetime | None:
        if value is None or not RFC822_LAX_RE.match(value.strip()):
            self.error("InvalidRFC2822Date", f"{where}: {value!r} is not an RFC 822 date (like Tue, 15 Jul 2025 00:00:00 GMT)")
            return None
        if not RFC822_STRICT_RE.match(value):
            self.warning("ProblematicalRFC822Date", f"{where}: {value!r}: use a 4-digit year, single spaces and a +hhmm, GMT or UT zone")
        try:
            parsed = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError) as e:
            self.error("InvalidRFC2822Date", f"{where}: {value!r}: {e}")
            return None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=dt.timezone.utc)
        weekday = re.match(rf"^\s*({DAYS})", value)
        if weekday and weekday.group(1) != parsed.strftime("%a"):
            self.error("IncorrectDOW", f"{where}: {value!r}: the date is a {parsed.strftime('%A')}")
        self.plausible(parsed, value, where)
        return parsed

    def plausible(self, when: dt.datetime, value: str, where: str) -> None:
        if when > self.now + dt.timedelta(days=1) or when.year < 1970:
            self.warning("ImplausibleDate", f"{where}: {value!r} is before 1970 or after tomorrow ({self.now:%Y-%m-%d}, see --now)")

    def email(self, value: str | None, where: str) -> None:
        """RSS author/managingEditor: `addr` or `addr (Name)`."""
        _, addr = email.utils.parseaddr(value or "")
        if not addr or not EMAIL_RE.match(addr):
            self.error("InvalidContact", f"{where}: {value!r} must be an e-mail address, e.g. 'jan@example.org (Jan Jansen)'; use dc:creator for a bare name")

    def plain_text(self, value: str | None, where: str) -> None:
        """Text that must not contain (escaped) HTML."""
        if not value:
            return
        tags = [t for t in HTML_END_TAG_RE.findall(value) if t.lower() in HTML4_ELEMENTS]
        if tags or HTML_ENTITY_RE.search(value):
            self.warning("ContainsHTML", f"{where}: text contains HTML markup or a double-escaped entity: {short(value)!r}")
        bad_chars(self, value, where)

    def html(self, value: str | None, where: str) -> None:
        """Escaped HTML: relative URLs, dangerous markup, unbalanced tags."""
        if not value:
            return
        if "<?import" in value.lower():
            self.warning("SecurityRisk", f"{where}: contains '<?import'")
        scanner = HtmlScan(self, where)
        scanner.feed(value)
        scanner.close()
        scanner.finish()
        bad_chars(self, value, where)

    # --- HTML elements, shared by escaped HTML and inline XHTML ------------

    def html_element(self, tag: str, attrs: list[tuple[str, str | None]], where: str) -> None:
        tag = tag.lower()
        if tag not in HTML4_ELEMENTS:
            self.warning("NotHtml", f"{where}: <{tag}> is not an HTML 4 element (the W3C validator reports 'Non-html tag')")
        elif tag not in SAFE_ELEMENTS:
            self.warning("SecurityRisk", f"{where}: <{tag}> is potentially dangerous content")
        for name, value in attrs:
            name = name.lower()
            if name.startswith("on"):
                self.warning("SecurityRisk", f"{where}: event handler attribute {name}= on <{tag}>")
            elif name == "style":
                self.warning("DangerousStyleAttr", f"{where}: style= attribute on <{tag}>: {short(value or '')!r}")
            elif name not in SAFE_ATTRIBUTES:
                self.warning("SecurityRiskAttr", f"{where}: attribute {name}= on <{tag}> is potentially dangerous content")
            if name in URL_ATTRIBUTES and value is not None:
                urls = [u.strip().split()[0] for u in value.split(",") if u.strip()] if name == "srcset" else [value.strip()]
                for u in urls:
                    self.content_url(u, f"{where}: <{tag} {name}>")

    def content_url(self, value: str, where: str) -> None:
        m = SCHEME_RE.match(value)
        if m and m.group(1).lower() in ("javascript", "vbscript"):
            self.warning("SecurityRisk", f"{where}: {m.group(1).lower()}: URL {short(value)!r}")
        elif not m:
            self.warning("ContainsRelRef", f"{where}: relative URL {value!r} (make it absolute: feed readers have no base URL)")
        elif m.group(1).lower() in ("http", "https") and not re.match(r"^[A-Za-z]+://[^/]", value):
            self.warning("ContainsRelRef", f"{where}: URL {value!r} has no host")


class HtmlScan(HTMLParser):
    """Walks escaped HTML once, reporting through FileCheck.html_element."""

    def __init__(self, check: FileCheck, where: str):
        super().__init__(convert_charrefs=False)
        self.check = check
        self.where = where
        self.stack: list[str] = []
        self.stray: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.check.html_element(tag, attrs, self.where)
        if tag not in VOID_ELEMENTS:
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        self.check.html_element(tag, attrs, self.where)

    def handle_endtag(self, tag):
        if tag in VOID_ELEMENTS:
            return
        if tag in self.stack:
            while self.stack:
                top = self.stack.pop()
                if top == tag:
                    break
                if top not in OPTIONAL_END:
                    self.stray.append(f"<{top}> closed by </{tag}>")
        else:
            self.stray.append(f"</{tag}> without <{tag}>")

    def handle_charref(self, name):
        try:
            code = int(name[1:], 16) if name[:1] in "xX" else int(name)
        except ValueError:
            return
        if 0x80 <= code <= 0x9F or code == 0xFFFD:
            self.check.warning("BadCharacters", f"{self.where}: character reference &#{name}; (a C1 control or U+FFFD)")

    def finish(self):
        unclosed = [t for t in self.stack if t not in OPTIONAL_END]
        if unclosed:
            self.stray.append("unclosed " + " ".join(f"<{t}>" for t in unclosed))
        if self.stray:
            self.check.warning("NotHtml", f"{self.where}: HTML is not balanced: {'; '.join(self.stray[:3])}")


def bad_chars(check: FileCheck, value: str, where: str) -> None:
    for c in value:
        if 0x80 <= ord(c) <= 0x9F or c == "\ufffd":
            check.warning("BadCharacters", f"{where}: contains U+{ord(c):04X} (a C1 control or replacement character: mis-decoded text?)")
            return


def short(s: str, n: int = 60) -> str:
    s = " ".join(s.split())
    return s if len(s) <= n else s[: n - 1] + "…"


def canonical_uri(value: str) -> str:
    """The canonical form the W3C validator compares Atom ids with: lower-case
    scheme and host, no default port, `/` for an empty http path, no `.`/`..`
    segments, and percent-encoding exactly where needed (upper-case hex)."""
    m = re.match(r"^(([^:/?#]+):)?(//([^/?#]*))?([^?#]*)(\?([^#]*))?(#(.*))?$", value)
    if not m:
        return value

    def q(s: str | None, plus: bool = False) -> str | None:
        if s is None:
            return None
        safe = "~:/?[]@!$&'()*+,;="
        if plus:
            return quote_plus(unicodedata.normalize("NFC", unquote_plus(s)), safe=safe)
        return quote(unicodedata.normalize("NFC", unquote(s)), safe=safe)

    scheme = m.group(2).lower() if m.group(2) else None
    authority, path = m.group(4), m.group(5)
    if authority is not None and scheme in ("http", "https", "ftp"):
        default = {"http": 80, "https": 443, "ftp": 21}[scheme]
        userinfo, _, host = authority.rpartition("@")
        host = host.lower()
        if ":" in host:
            name, port = host.split(":", 1)
            if port == "" or (port.isdigit() and int(port) == default):
                host = name
        authority = (userinfo + "@" if userinfo else "") + host
        if path == "":
            path = "/"
        else:
            segments: list[str] = []
            for seg in path.split("/"):
                if seg == ".":
                    continue
                if seg == "..":
                    if len(segments) > 1:
                        segments.pop()
                    continue
                segments.append(seg)
            path = "/".join(segments)
    out = (scheme + ":" if scheme else "") + ("//" + authority if authority is not None else "")
    out += q(path) or ""
    if m.group(7) is not None:
        out += "?" + q(m.group(7), plus=True)
    if m.group(9) is not None:
        out += "#" + q(m.group(9))
    return out


# --- XML -----------------------------------------------------------------

def parse_xml(check: FileCheck, path: str) -> ET.Element | None:
    """Parses with namespace checking; reports encoding and prefix problems."""
    with open(path, "rb") as f:
        raw = f.read()
    head = raw[:200].decode("ascii", "replace")
    decl = re.match(r"^(\ufeff)?<\?xml[^>]*encoding=[\"']([^\"']+)[\"']", head)
    if decl and decl.group(2).lower().replace("_", "-") not in ("utf-8", "utf8"):
        check.warning("NotUTF8", f"declares encoding {decl.group(2)!r}; use UTF-8")
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as e:
        check.error("UnicodeError", f"not valid UTF-8 at byte {e.start}")
        return None
    declared: list[tuple[str, str]] = []
    try:
        it = ET.iterparse(path, events=("start-ns",))
        for _, (prefix, uri) in it:
            declared.append((prefix, uri))
        root = it.root
    except ET.ParseError as e:
        if "unbound prefix" in str(e):
            check.error("MissingNamespace", f"a namespace prefix is used but not declared ({e})")
        else:
            check.error("NotWellFormed", f"XML is not well-formed: {e}")
        return None
    for prefix, uri in declared:
        want = WELL_KNOWN_PREFIXES.get(prefix)
        if want and uri != want:
            check.warning("WrongNamespace", f"prefix {prefix!r} is bound to {uri!r}; it is expected to be {want!r}")
    return root


def local(tag: str) -> tuple[str, str]:
    """('{ns}name') -> (ns, name)."""
    if tag.startswith("{"):
        ns, name = tag[1:].split("}", 1)
        return ns, name
    return "", tag


def text_of(el: ET.Element | None) -> str | None:
    if el is None:
        return None
    return "".join(el.itertext())


def check_feedparser(check: FileCheck, path: str, xml_entries: int) -> None:
    d = feedparser.parse(path)
    if d.bozo:
        check.error("FeedparserBozo", f"feedparser: {d.get('bozo_exception')!r}")
    if xml_entries and not d.entries:
        check.error("FeedparserNoEntries", f"feedparser found no entries, the XML has {xml_entries}")
    elif len(d.entries) != xml_entries:
        check.error("FeedparserEntryCount", f"feedparser found {len(d.entries)} entries, the XML has {xml_entries}")


# --- Atom ----------------------------------------------------------------

def check_atom(check: FileCheck, path: str) -> list[str]:
    root = parse_xml(check, path)
    if root is None:
        return []
    ns, name = local(root.tag)
    if name != "feed" or ns != ATOM_NS:
        check.error("InvalidNamespace", f"root element is {root.tag!r}; an Atom feed is <feed xmlns=\"{ATOM_NS}\">")
        return []
    entries = [c for c in root if c.tag == A + "entry"]
    check_feedparser(check, path, len(entries))

    seen_entry = False
    for child in root:
        cns, cname = local(child.tag)
        if cns in ("", ATOM_NS) and cname not in ATOM_FEED_CHILDREN:
            check.error("UndefinedElement", f"feed: undefined element <{cname}>" + ("" if cns else " (not in the Atom namespace)"))
        if cname == "entry" and cns == ATOM_NS:
            seen_entry = True
        elif seen_entry and cns == ATOM_NS:
            check.error("MisplacedMetadata", f"feed: <{cname}> after the first <entry>")
    singles(check, root, ATOM_FEED_SINGLE, "feed")

    for required in ("id", "title", "updated"):
        if root.find(A + required) is None:
            check.error("MissingElement", f"feed: missing <{required}>")
    feed_id = root.find(A + "id")
    if feed_id is not None:
        check.identifier(feed_id.text, "feed <id>")
    atom_text(check, root.find(A + "title"), "feed <title>")
    atom_text(check, root.find(A + "subtitle"), "feed <subtitle>")
    atom_text(check, root.find(A + "rights"), "feed <rights>")
    feed_updated = None
    if root.find(A + "updated") is not None:
        feed_updated = check.rfc3339(root.find(A + "updated").text, "feed <updated>")
    for tag in ("icon", "logo"):
        el = root.find(A + tag)
        if el is not None:
            check.url(el.text, f"feed <{tag}>")
    gen = root.find(A + "generator")
    if gen is not None and gen.get("uri") is not None:
        check.url(gen.get("uri"), "feed <generator uri>")

    feed_authors = root.findall(A + "author")
    for i, a in enumerate(feed_authors):
        atom_person(check, a, "feed <author>")
    for c in root.findall(A + "contributor"):
        atom_person(check, c, "feed <contributor>")
    for c in root.findall(A + "category"):
        atom_category(check, c, "feed")

    links = atom_links(check, root.findall(A + "link"), "feed")
    selfs = [l for l in links if l[0] == "self"]
    if not selfs:
        check.warning("MissingSelf", f"feed: missing <link rel=\"self\" href=\"{check.expected_self}\"/>")
    for _, href, _, _ in selfs:
        if href != check.expected_self:
            check.warning("SelfDoesntMatchLocation", f"feed: self link {href!r} is not where the file is served: {check.expected_self!r}")

    ids: list[str] = []
    seen_ids: set[str] = set()
    seen_updated: dict[str, str] = {}
    for n, entry in enumerate(entries, 1):
        eid = text_of(entry.find(A + "id"))
        where = f"entry {n}" + (f" ({eid})" if eid else "")
        ids.append(eid or "")
        for child in entry:
            cns, cname = local(child.tag)
            if cns in ("", ATOM_NS) and cname not in ATOM_ENTRY_CHILDREN:
                check.error("UndefinedElement", f"{where}: undefined element <{cname}>")
        singles(check, entry, ATOM_ENTRY_SINGLE, where)
        for required in ("id", "title", "updated"):
            if entry.find(A + required) is None:
                check.error("MissingElement", f"{where}: missing <{required}>")
        if not feed_authors and entry.find(A + "author") is None:
            check.error("MissingElement", f"{where}: missing <author> (there is none at feed level either)")
        if eid is not None:
            check.identifier(eid, f"{where} <id>")
            if eid in seen_ids:
                check.warning("DuplicateEntries", f"{where}: id {eid!r} is used by another entry")
            seen_ids.add(eid)
        atom_text(check, entry.find(A + "title"), f"{where} <title>", required=True)
        upd_el = entry.find(A + "updated")
        if upd_el is not None:
            updated = check.rfc3339(upd_el.text, f"{where} <updated>")
            if upd_el.text in seen_updated:
                check.warning("DuplicateUpdated", f"{where}: <updated> {upd_el.text} equals that of {seen_updated[upd_el.text]}")
            else:
                seen_updated[upd_el.text] = where
            if updated and feed_updated and updated > feed_updated:
                check.error("FeedUpdatedTooOld", f"{where}: <updated> {upd_el.text} is after the feed's <updated>")
        pub_el = entry.find(A + "published")
        if pub_el is not None:
            check.rfc3339(pub_el.text, f"{where} <published>")
        for a in entry.findall(A + "author"):
            atom_person(check, a, f"{where} <author>")
        for c in entry.findall(A + "contributor"):
            atom_person(check, c, f"{where} <contributor>")
        for c in entry.findall(A + "category"):
            atom_category(check, c, where)
        elinks = atom_links(check, entry.findall(A + "link"), where)
        if not any(l[0] == "alternate" for l in elinks):
            check.error("MissingAlternate", f"{where}: missing <link rel=\"alternate\" href=\"...\"/> to the post")
        content = entry.find(A + "content")
        summary = entry.find(A + "summary")
        atom_text(check, summary, f"{where} <summary>")
        if content is not None:
            src = content.get("src")
            if src is not None:
                check.url(src, f"{where} <content src>")
                if summary is None:
                    check.error("MissingSummary", f"{where}: <content src> needs a <summary>")
            else:
                atom_text(check, content, f"{where} <content>", content=True)
        elif summary is None:
            check.warning("MissingTextualContent", f"{where}: neither <content> nor <summary>")
    return ids


def singles(check: FileCheck, parent: ET.Element, names: set[str], where: str, ns: str = A) -> None:
    for name in sorted(names):
        found = parent.findall(ns + name)
        if len(found) > 1:
            check.error("DuplicateElement", f"{where}: <{name}> appears {len(found)} times")


def atom_text(check: FileCheck, el: ET.Element | None, where: str, required: bool = False, content: bool = False) -> None:
    if el is None:
        return
    kind = el.get("type", "text")
    if kind == "xhtml":
        divs = [c for c in el if c.tag == "{%s}div" % XHTML_NS]
        if len(divs) != 1 or (el.text or "").strip():
            check.error("MissingXhtmlDiv", f"{where}: type=\"xhtml\" needs exactly one xhtml:div child")
            return
        for sub in divs[0].iter():
            sns, sname = local(sub.tag)
            if sub is divs[0]:
                continue
            if sns != XHTML_NS:
                check.warning("NotHtml", f"{where}: element {sub.tag!r} outside the XHTML namespace")
            attrs = [(("xml:" if local(k)[0] == XML_NS else "") + local(k)[1], v) for k, v in sub.attrib.items()]
            check.html_element(sname, attrs, where)
        return
    value = el.text or ""
    if len(el):
        check.error("UndefinedElement", f"{where}: child elements in type=\"{kind}\" (escape the markup or use type=\"xhtml\")")
    if kind == "html" or kind.endswith("/html"):
        check.html(value, where)
    elif kind == "text" or kind.startswith("text/"):
        check.plain_text(value, where)
    elif content and MIME_RE.match(kind):
        pass
    else:
        check.error("InvalidTextType", f"{where}: type={kind!r} (use text, html or xhtml)")
    if required and not value.strip():
        check.warning("NotBlank", f"{where}: is blank")


def atom_person(check: FileCheck, el: ET.Element, where: str) -> None:
    names = el.findall(A + "name")
    if not names or not (names[0].text or "").strip():
        check.error("MissingElement", f"{where}: missing <name>")
    if len(names) > 1:
        check.error("DuplicateElement", f"{where}: more than one <name>")
    em = el.find(A + "email")
    if em is not None and not EMAIL_RE.match(em.text or ""):
        check.error("InvalidAddrSpec", f"{where} <email>: {em.text!r} is not an e-mail address")
    uri = el.find(A + "uri")
    if uri is not None:
        check.url(uri.text, f"{where} <uri>")


def atom_category(check: FileCheck, el: ET.Element, where: str) -> None:
    if not el.get("term"):
        check.error("MissingAttribute", f"{where}: <category> without term=")
    if el.get("scheme") is not None:
        check.url(el.get("scheme"), f"{where} <category scheme>")


def atom_links(check: FileCheck, links: list[ET.Element], where: str) -> list[tuple[str, str, str, str]]:
    out = []
    seen: set[tuple[str, str, str]] = set()
    for link in links:
        rel = link.get("rel", "alternate")
        href = link.get("href")
        kind = link.get("type", "")
        lang = link.get("hreflang", "")
        if href is None:
            check.error("MissingHref", f"{where}: <link rel={rel!r}> without href")
            continue
        check.url(href, f"{where} <link rel={rel!r}>")
        if rel not in ATOM_LINK_RELS and not SCHEME_RE.match(rel):
            check.warning("UnregisteredAtomLinkRel", f"{where}: link rel={rel!r} is not registered")
        if kind and not MIME_RE.match(kind):
            check.error("InvalidMIMEType", f"{where}: link type={kind!r}")
        if lang and not LANG_RE.match(lang):
            check.error("InvalidLanguage", f"{where}: link hreflang={lang!r}")
        if (link.text or "").strip():
            check.warning("AtomLinkNotEmpty", f"{where}: <link> has text content")
        key = (rel, kind, lang)
        if rel == "alternate" and key in seen:
            check.error("DuplicateAtomLink", f"{where}: two alternate links with type={kind!r} hreflang={lang!r}")
        seen.add(key)
        out.append((rel, href, kind, lang))
    return out


# --- RSS -----------------------------------------------------------------

def check_rss(check: FileCheck, path: str) -> list[str]:
    root = parse_xml(check, path)
    if root is None:
        return []
    if root.tag != "rss":
        check.error("InvalidNamespace", f"root element is {root.tag!r}; RSS 2.0 is <rss version=\"2.0\"> in no namespace")
        return []
    if root.get("version") != "2.0":
        check.error("MissingAttribute", f"<rss> needs version=\"2.0\" (found {root.get('version')!r})")
    channels = root.findall("channel")
    if len(channels) != 1:
        check.error("MissingElement" if not channels else "DuplicateElement", f"<rss> must have exactly one <channel>, found {len(channels)}")
        if not channels:
            return []
    ch = channels[0]
    items = ch.findall("item")
    check_feedparser(check, path, len(items))

    for child in ch:
        cns, cname = local(child.tag)
        if cns == "" and cname not in RSS_CHANNEL_CHILDREN:
            check.error("UndefinedElement", f"channel: undefined element <{cname}>")
        if cns == DC_NS and cname not in DC_ELEMENTS:
            check.error("UndefinedElement", f"channel: undefined element dc:{cname}")
    singles(check, ch, RSS_CHANNEL_SINGLE, "channel", ns="")
    for required in ("title", "link", "description"):
        if ch.find(required) is None:
            check.error("MissingElement", f"channel: missing <{required}>")
    title = text_of(ch.find("title"))
    if title is not None:
        if not title.strip():
            check.warning("NotBlank", "channel <title> is blank")
        check.plain_text(title, "channel <title>")
    if ch.find("link") is not None:
        check.url(text_of(ch.find("link")), "channel <link>", rfc2396=True)
    check.plain_text(text_of(ch.find("description")), "channel <description>")
    for tag in ("pubDate", "lastBuildDate"):
        if ch.find(tag) is not None:
            check.rfc822(text_of(ch.find(tag)), f"channel <{tag}>")
    if ch.find("language") is not None and not LANG_RE.match(text_of(ch.find("language")) or ""):
        check.error("InvalidLanguage", f"channel <language>: {text_of(ch.find('language'))!r}")
    for tag in ("managingEditor", "webMaster"):
        if ch.find(tag) is not None:
            check.email(text_of(ch.find(tag)), f"channel <{tag}>")
    if ch.find("docs") is not None:
        check.url(text_of(ch.find("docs")), "channel <docs>", rfc2396=True)
    if ch.find("ttl") is not None and not (text_of(ch.find("ttl")) or "").strip().isdigit():
        check.error("InvalidInteger", f"channel <ttl>: {text_of(ch.find('ttl'))!r}")
    image = ch.find("image")
    if image is not None:
        for required in ("url", "title", "link"):
            if image.find(required) is None:
                check.error("MissingElement", f"channel <image>: missing <{required}>")
        if image.find("url") is not None:
            check.url(text_of(image.find("url")), "channel <image><url>", rfc2396=True)
        if image.find("link") is not None:
            check.url(text_of(image.find("link")), "channel <image><link>", rfc2396=True)
    for c in ch.findall("category"):
        check.plain_text(text_of(c), "channel <category>")

    atom_self = [l for l in ch.findall(A + "link") if l.get("rel") == "self"]
    if not atom_self:
        check.warning("MissingAtomSelfLink", f"channel: missing <atom:link rel=\"self\" type=\"application/rss+xml\" href=\"{check.expected_self}\"/>")
    for l in ch.findall(A + "link"):
        if l.get("href") is None:
            check.error("MissingHref", f"channel <atom:link rel={l.get('rel')!r}> without href")
        else:
            check.url(l.get("href"), f"channel <atom:link rel={l.get('rel')!r}>")
    for l in atom_self:
        if l.get("href") is not None and l.get("href") != check.expected_self:
            check.warning("SelfDoesntMatchLocation", f"channel: self link {l.get('href')!r} is not where the file is served: {check.expected_self!r}")

    ids: list[str] = []
    seen_guids: set[str] = set()
    for n, item in enumerate(items, 1):
        guid_el = item.find("guid")
        guid = text_of(guid_el)
        link = text_of(item.find("link"))
        where = f"item {n}" + (f" ({guid or link})" if (guid or link) else "")
        ids.append(guid if guid is not None else (link or ""))
        for child in item:
            cns, cname = local(child.tag)
            if cns == "" and cname not in RSS_ITEM_CHILDREN:
                check.error("UndefinedElement", f"{where}: undefined element <{cname}>")
            elif cns == DC_NS and cname not in DC_ELEMENTS:
                check.error("UndefinedElement", f"{where}: undefined element dc:{cname}")
            elif cns == CONTENT_NS and cname != "encoded":
                check.error("UndefinedElement", f"{where}: undefined element content:{cname}")
        singles(check, item, RSS_ITEM_SINGLE, where, ns="")
        singles(check, item, {"encoded"}, where, ns="{%s}" % CONTENT_NS)
        if item.find("title") is None and item.find("description") is None:
            check.error("ItemMustContainTitleOrDescription", f"{where}: needs <title> or <description>")
        check.plain_text(text_of(item.find("title")), f"{where} <title>")
        if link is not None:
            check.url(link, f"{where} <link>", rfc2396=True)
        if guid_el is None:
            check.warning("MissingGuid", f"{where}: missing <guid>")
        else:
            perma = guid_el.get("isPermaLink")
            if perma not in (None, "true", "false"):
                check.error("InvalidBooleanAttribute", f"{where}: <guid isPermaLink={perma!r}> (true or false)")
            if perma in (None, "true"):
                if check.url(guid, f"{where} <guid> (a permalink unless isPermaLink=\"false\")", rfc2396=True):
                    if (guid or "").lower().startswith(("tag:", "urn:uuid:")):
                        check.error("InvalidPermalink", f"{where}: <guid> {guid!r} is not a permalink; add isPermaLink=\"false\"")
            elif guid and len(guid) < 9 and guid.isdigit():
                check.warning("NotSufficientlyUnique", f"{where}: <guid> {guid!r} is not sufficiently unique")
            if not guid:
                check.warning("NotBlank", f"{where}: <guid> is blank")
            elif guid in seen_guids:
                check.error("DuplicateValue", f"{where}: <guid> {guid!r} is used by another item")
            seen_guids.add(guid or "")
        if item.find("pubDate") is not None:
            check.rfc822(text_of(item.find("pubDate")), f"{where} <pubDate>")
        if item.find("author") is not None:
            check.email(text_of(item.find("author")), f"{where} <author>")
            if item.find("{%s}creator" % DC_NS) is not None:
                check.warning("DuplicateItemSemantics", f"{where}: both <author> and <dc:creator>")
        if item.find("comments") is not None:
            check.url(text_of(item.find("comments")), f"{where} <comments>", rfc2396=True)
        for c in item.findall("category"):
            check.plain_text(text_of(c), f"{where} <category>")
        enclosures = item.findall("enclosure")
        if len(enclosures) > 1:
            check.warning("DuplicateEnclosure", f"{where}: more than one <enclosure> (readers take only one)")
        for enc in enclosures:
            for attr in ("url", "length", "type"):
                if enc.get(attr) is None:
                    check.error("MissingAttribute", f"{where}: <enclosure> without {attr}=")
            if enc.get("url") is not None:
                check.url(enc.get("url"), f"{where} <enclosure url>", rfc2396=True)
            if enc.get("length") is not None and not (enc.get("length").isdigit() and int(enc.get("length")) > 0):
                check.error("InvalidIntegerAttribute", f"{where}: <enclosure length={enc.get('length')!r}> must be a positive byte count")
            if enc.get("type") is not None and not MIME_RE.match(enc.get("type")):
                check.error("InvalidMIMEAttribute", f"{where}: <enclosure type={enc.get('type')!r}>")
        source = item.find("source")
        if source is not None:
            if source.get("url") is None:
                check.error("MissingAttribute", f"{where}: <source> without url=")
            else:
                check.url(source.get("url"), f"{where} <source url>")
        check.html(text_of(item.find("description")), f"{where} <description>")
        check.html(text_of(item.find("{%s}encoded" % CONTENT_NS)), f"{where} <content:encoded>")
    return ids


# --- JSON Feed -----------------------------------------------------------

def check_json(check: FileCheck, path: str) -> list[str]:
    try:
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
    except UnicodeDecodeError as e:
        check.error("UnicodeError", f"not valid UTF-8: {e}")
        return []
    except json.JSONDecodeError as e:
        check.error("InvalidJSON", f"not valid JSON: {e}")
        return []
    if not isinstance(doc, dict):
        check.error("InvalidJSON", "top level is not an object")
        return []
    if doc.get("version") != JSONFEED_VERSION:
        check.error("InvalidVersion", f"version is {doc.get('version')!r}; JSON Feed 1.1 is {JSONFEED_VERSION!r}")
    if not isinstance(doc.get("title"), str) or not doc["title"].strip():
        check.error("MissingElement", "title is missing or not a non-empty string")
    unknown(check, doc, JSONFEED_TOP_KEYS, "feed")
    if "feed_url" not in doc:
        check.error("MissingSelf", f"feed_url is missing; it should be {check.expected_self!r}")
    elif doc["feed_url"] != check.expected_self:
        check.error("SelfDoesntMatchLocation", f"feed_url {doc['feed_url']!r} is not where the file is served: {check.expected_self!r}")
    for key in ("home_page_url", "next_url", "icon", "favicon"):
        if key in doc:
            json_url(check, doc[key], key)
    for key in ("description", "user_comment", "language"):
        if key in doc and not isinstance(doc[key], str):
            check.error("InvalidValue", f"{key} must be a string")
    if "expired" in doc and not isinstance(doc["expired"], bool):
        check.error("InvalidValue", "expired must be true or false")
    json_authors(check, doc, "feed")
    items = doc.get("items")
    if not isinstance(items, list):
        check.error("MissingElement", "items is missing or not a list")
        return []

    ids: list[str] = []
    seen: set[str] = set()
    for n, item in enumerate(items, 1):
        if not isinstance(item, dict):
            check.error("InvalidValue", f"item {n} is not an object")
            continue
        iid = item.get("id")
        where = f"item {n}" + (f" ({iid})" if iid is not None else "")
        ids.append(iid if isinstance(iid, str) else json.dumps(iid))
        unknown(check, item, JSONFEED_ITEM_KEYS, where)
        if not isinstance(iid, str) or not iid:
            check.error("InvalidId", f"{where}: id must be a non-empty string")
        elif iid in seen:
            check.error("DuplicateValue", f"{where}: id {iid!r} is used by another item")
        else:
            seen.add(iid)
        html = item.get("content_html")
        text = item.get("content_text")
        if html is None and text is None:
            check.error("MissingElement", f"{where}: needs content_html or content_text")
        for key in ("content_html", "content_text", "title", "summary", "language"):
            if key in item and not isinstance(item[key], str):
                check.error("InvalidValue", f"{where}: {key} must be a string")
        if isinstance(html, str):
            check.html(html, f"{where} content_html")
        for key in ("url", "external_url", "image", "banner_image"):
            if key in item:
                json_url(check, item[key], f"{where} {key}")
        for key in ("date_published", "date_modified"):
            if key in item:
                check.rfc3339(item[key] if isinstance(item[key], str) else None, f"{where} {key}")
        tags = item.get("tags")
        if tags is not None and not (isinstance(tags, list) and all(isinstance(t, str) for t in tags)):
            check.error("InvalidValue", f"{where}: tags must be a list of strings")
        json_authors(check, item, where)
        attachments = item.get("attachments")
        if attachments is not None:
            if not isinstance(attachments, list):
                check.error("InvalidValue", f"{where}: attachments must be a list")
            else:
                for att in attachments:
                    if not isinstance(att, dict) or "url" not in att or "mime_type" not in att:
                        check.error("MissingElement", f"{where}: an attachment needs url and mime_type")
                    else:
                        json_url(check, att["url"], f"{where} attachment url")
    return ids


def unknown(check: FileCheck, obj: dict, known: set[str], where: str) -> None:
    for key in obj:
        if key not in known and not key.startswith("_"):
            check.warning("UnknownKey", f"{where}: unknown key {key!r} (JSON Feed extensions start with '_')")


def json_url(check: FileCheck, value, where: str) -> None:
    if not isinstance(value, str):
        check.error("InvalidValue", f"{where} must be a string URL")
    else:
        check.url(value, where)


def json_authors(check: FileCheck, obj: dict, where: str) -> None:
    if "author" in obj:
        check.warning("DeprecatedAuthor", f"{where}: 'author' is JSON Feed 1.0; 1.1 uses an 'authors' list")
    authors = obj.get("authors")
    if authors is None:
        return
    if not isinstance(authors, list):
        check.error("InvalidValue", f"{where}: authors must be a list of objects")
        return
    for a in authors:
        if not isinstance(a, dict) or not any(k in a for k in ("name", "url", "avatar")):
            check.error("InvalidValue", f"{where}: an author must be an object with name, url or avatar")
            continue
        for key in ("url", "avatar"):
            if key in a:
                json_url(check, a[key], f"{where} author {key}")


# --- OPML ----------------------------------------------------------------

def check_opml(check: FileCheck, path: str, output_dir: str, feeds_url: str) -> None:
    root = parse_xml(check, path)
    if root is None:
        return
    if root.tag != "opml":
        check.error("InvalidNamespace", f"root element is {root.tag!r}, not <opml>")
        return
    if root.get("version") not in ("1.0", "1.1", "2.0"):
        check.error("InvalidOPMLVersion", f"<opml version={root.get('version')!r}> (1.0, 1.1 or 2.0)")
    head, body = root.find("head"), root.find("body")
    if head is None:
        check.error("MissingElement", "missing <head>")
    else:
        title = text_of(head.find("title"))
        if not title or not title.strip():
            check.warning("MissingTitle", "<head> has no <title>")
        for tag in ("dateCreated", "dateModified"):
            if head.find(tag) is not None:
                check.rfc822(text_of(head.find(tag)), f"<head><{tag}>")
    if body is None:
        check.error("MissingElement", "missing <body>")
        return
    outlines = list(body.iter("outline"))
    if not outlines:
        check.error("MissingElement", "<body> has no <outline>")
    prefix = feeds_url + "/"
    for n, o in enumerate(outlines, 1):
        where = f"outline {n}" + (f" ({o.get('text')})" if o.get("text") else "")
        if o.get("text") is None:
            check.error("MissingAttribute", f"{where}: missing text=")
        kind = (o.get("type") or "").lower()
        if kind == "rss":
            if o.get("xmlUrl") is None:
                check.warning("MissingXmlURL", f"{where}: type=\"rss\" without xmlUrl=")
            if o.get("title") is None:
                check.warning("MissingTitleAttr", f"{where}: type=\"rss\" without title=")
        elif not kind and any(o.get(a) is not None for a in ("description", "htmlUrl", "language", "title", "version", "xmlUrl")):
            check.warning("MissingOutlineType", f"{where}: feed attributes without type=\"rss\"")
        if o.get("htmlUrl") is not None:
            check.url(o.get("htmlUrl"), f"{where} htmlUrl", rfc2396=True)
        xml_url = o.get("xmlUrl")
        if xml_url is not None and check.url(xml_url, f"{where} xmlUrl", rfc2396=True):
            if not xml_url.startswith(prefix):
                check.error("OutsideFeedsUrl", f"{where}: xmlUrl {xml_url!r} is not under --feeds-url {feeds_url!r}")
            else:
                rel = unquote(xml_url[len(prefix):].split("#")[0].split("?")[0])
                target = os.path.normpath(os.path.join(output_dir, rel))
                if not target.startswith(os.path.normpath(output_dir)) or not os.path.isfile(target):
                    check.error("MissingFeedFile", f"{where}: xmlUrl {xml_url!r} points at {rel!r}, which is not in the output folder")


# --- driver --------------------------------------------------------------

def find_files(output_dir: str) -> list[str]:
    found = []
    for dirpath, dirnames, filenames in os.walk(output_dir):
        dirnames.sort()
        for name in sorted(filenames):
            if name in FEED_NAMES:
                rel = os.path.relpath(os.path.join(dirpath, name), output_dir)
                found.append(rel.replace(os.sep, "/"))
    return found


def run(output_dir: str, feeds_url: str, now: dt.datetime, ignore: set[str]) -> tuple[Report, int]:
    report = Report(ignore)
    files = find_files(output_dir)
    if not files:
        report.add(".", "error", "NoFeeds", f"no {', '.join(FEED_NAMES)} under {output_dir}")
    for rel in files:
        path = os.path.join(output_dir, rel)
        check = FileCheck(report, rel, f"{feeds_url}/{rel}", now)
        name = rel.rsplit("/", 1)[-1]
        if name == "atom.xml":
            report.entries[rel] = check_atom(check, path)
        elif name == "rss.xml":
            report.entries[rel] = check_rss(check, path)
        elif name == "feed.json":
            report.entries[rel] = check_json(check, path)
        else:
            check_opml(check, path, output_dir, feeds_url)
    return report, len(files)


def parse_now(value: str) -> dt.datetime:
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as e:
        raise argparse.ArgumentTypeError(f"expected RFC 3339, e.g. 2025-07-16T00:00:00Z: {e}")
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.timezone.utc)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("output_dir", metavar="OUTPUT_DIR")
    ap.add_argument("--feeds-url", required=True, metavar="URL", help="public URL of OUTPUT_DIR")
    ap.add_argument("--json", action="store_true", help="print one JSON object instead of lines")
    ap.add_argument("--now", type=parse_now, default=None, metavar="RFC3339",
                    help="clock for the 'implausible date' check (default: now)")
    ap.add_argument("--ignore", action="append", default=[], metavar="CODE",
                    help="drop problems with this code (repeatable)")
    args = ap.parse_args(argv)
    if feedparser is None:
        print("feedcheck: feedparser is not installed (pip install -r tests/tools/requirements.txt)", file=sys.stderr)
        return 2
    if not os.path.isdir(args.output_dir):
        print(f"feedcheck: {args.output_dir}: not a directory", file=sys.stderr)
        return 2
    feeds_url = args.feeds_url.rstrip("/")
    if not re.match(r"^https?://[^/]", feeds_url):
        print(f"feedcheck: --feeds-url {args.feeds_url!r} is not an absolute http(s) URL", file=sys.stderr)
        return 2
    now = args.now or dt.datetime.now(dt.timezone.utc)

    report, nfiles = run(args.output_dir, feeds_url, now, set(args.ignore))
    errors = sum(p.level == "error" for p in report.problems)
    warnings = len(report.problems) - errors
    if args.json:
        json.dump({"files": nfiles, "problems": [asdict(p) for p in report.problems],
                   "entries": report.entries}, sys.stdout, indent=1, ensure_ascii=False)
        print()
    else:
        for p in report.problems:
            print(f"{os.path.join(args.output_dir, p.path)}: [{p.level}] {p.code}: {p.message}")
        print(f"feedcheck: {nfiles} files, {errors} errors, {warnings} warnings")
    return 1 if report.problems else 0


if __name__ == "__main__":
    sys.exit(main())
