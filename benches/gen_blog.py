#!/usr/bin/env python3
"""Generates a synthetic Docusaurus blog for postbode's benchmarks.

    gen_blog.py OUT_DIR --posts N [--tags T] [--authors A] [--seed S] [--force]

The blog is shaped like the real developer.overheid.nl blog that postbode is
tested against (70 posts of 8.7 KB on average, 4.7 tags and 1.1 authors per
post, a description on half of them, 26 authors, ~150 tags), but every word
is made up from random syllables, so no real text is copied and any size can
be made. The same seed gives byte-identical output. `--tags` and `--authors`
shape a large multi-author blog instead (e.g. 150 tags and 500 authors: 651
channels), with one author per post drawn uniformly and tags Zipf-weighted.

OUT_DIR gets:
  blog/YYYY/MM/D-slug.md   posts (day zero-padded or not), images in YYYY/MM/img/
  blog/authors.yml         26 authors (--authors)
  tags.yml                 150 tags (--tags; beside the blog folder, as on the real site)
  bench.toml               a postbode feed definition pointing at the above

Every post is dated between 2010-01-01 and 2029-12-31, so all of them are
published for `postbode --now 2030-01-01T00:00:00Z`. Images are tiny valid
PNGs (a few KB, where real ones average ~94 KB) to keep the data small.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import random
import shutil
import struct
import sys
import zlib
from statistics import NormalDist

SITE_URL = "https://bench.example.org"
# Post sizes follow a log-normal distribution like the real blog's (all 70
# posts, drafts included: mean 8.75 KB, median 7.2 KB, min 1.2 KB, max 24 KB).
# Its mean is set a little above 8.75 KB because clamping to the real
# min/max trims the long tail; the result averages 8.7-8.8 KB.
LOGNORMAL_MEAN_BYTES = 8800
SIZE_SIGMA = 0.55
MIN_POST_BYTES, MAX_POST_BYTES = 1200, 24000
DEFAULT_AUTHORS, DEFAULT_TAGS = 26, 150
FIRST_DAY, LAST_DAY = dt.date(2010, 1, 1), dt.date(2029, 12, 31)

ONSETS = ["b", "d", "f", "g", "h", "j", "k", "l", "m", "n", "p", "r", "s", "t", "v", "w",
          "z", "st", "br", "gr", "kl", "sch", "tr", "pl", "sl", "sp", "dr", "kr", "bl", ""]
NUCLEI = ["a", "e", "i", "o", "u", "aa", "ee", "oo", "ie", "ij", "ou", "ui", "eu", "ei", "oe"]
CODAS = ["", "", "", "n", "r", "s", "t", "k", "l", "m", "ng", "rd", "st", "nd", "cht", "ls"]
ACCENTED = {"e": "é", "i": "ï", "o": "ö", "u": "ü", "a": "á"}
EMOJI = ["🚀", "✅", "👉", "💡", "🎉", "⚠️", "📅", "🔍", "🤝", "📣", "🙌", "✨"]
CODE_LANGS = ["json", "yaml", "bash", "graphql", "http", "js", "rust", "text", "sh", "toml"]
ADMONITIONS = ["tip", "info", "note", "warning", "success", "danger"]


class Words:
    """A made-up vocabulary with Zipf-like frequencies."""

    def __init__(self, rng: random.Random, size: int = 4000):
        self.rng = rng
        seen: dict[str, None] = {}
        while len(seen) < size:
            w = "".join(rng.choice(ONSETS) + rng.choice(NUCLEI) + rng.choice(CODAS)
                        for _ in range(rng.choice((1, 1, 2, 2, 2, 3))))
            if len(w) >= 2:
                seen[w] = None
        words = list(seen)
        # A few words with diacritics, so feeds carry multi-byte UTF-8.
        for i in range(0, len(words), 97):
            w = words[i]
            for plain, accented in ACCENTED.items():
                if plain in w:
                    words[i] = w.replace(plain, accented, 1)
                    break
        self.words = words
        self.ascii = [w for w in words if w.isascii()]
        weights = [1.0 / (rank + 8) for rank in range(len(words))]
        self.cum = []
        total = 0.0
        for w in weights:
            total += w
            self.cum.append(total)

    def pick(self, k: int) -> list[str]:
        return self.rng.choices(self.words, cum_weights=self.cum, k=k)

    def slug_words(self, k: int) -> list[str]:
        return [self.rng.choice(self.ascii[:1500]) for _ in range(k)]

    def phrase(self, lo: int, hi: int, capital: bool = True) -> str:
        s = " ".join(self.pick(self.rng.randint(lo, hi)))
        return s[:1].upper() + s[1:] if capital else s

    def slug(self, lo: int = 1, hi: int = 3) -> str:
        return "-".join(self.slug_words(self.rng.randint(lo, hi)))


class Post:
    """Writes one post's Markdown; `footnotes` and `emoji` are per-post traits."""

    def __init__(self, g: "Generator", rel_path: str, slug: str, older: list[str]):
        self.g, self.r, self.w = g, g.rng, g.words
        self.rel_path = rel_path
        self.slug = slug
        self.older = older
        self.uses_emoji = self.r.random() < 0.08
        # About a fifth of the real posts are technical and hold most code blocks.
        self.code_share = 0.12 if self.r.random() < 0.22 else 0.0
        self.footnotes: list[str] = []
        self.wants_footnotes = self.r.random() < 0.06
        self.images: list[str] = []
        self.title, self.authors, self.tags = "", [], []

    # --- inline text -------------------------------------------------------

    def sentence(self, lo: int = 6, hi: int = 18, inline: bool = True) -> str:
        r, w = self.r, self.w
        words = w.pick(r.randint(lo, hi))
        if inline and len(words) > 4:
            x = r.random()
            i = r.randrange(len(words) - 2)
            if x < 0.05:
                words[i] = f"**{words[i]} {words[i + 1]}**"
                del words[i + 1]
            elif x < 0.09:
                words[i] = f"_{words[i]}_"
            elif x < 0.13:
                words[i] = f"`{words[i]}`"
            elif x < 0.16:
                words[i] = f"[{words[i]} {words[i + 1]}](https://www.example.net/{w.slug()}/{w.slug()})"
                del words[i + 1]
            elif x < 0.18:
                words[i] = f"[{words[i]}]({SITE_URL}/docs/{w.slug()})"
            elif x < 0.20:
                words[i] = f"[{words[i]}](/docs/{w.slug()}/{w.slug()})"
            if self.uses_emoji and r.random() < 0.08:
                words.append(r.choice(EMOJI))
        if len(words) > 9 and r.random() < 0.3:
            words[r.randrange(2, len(words) - 3)] += ","
        s = " ".join(words)
        end = "." if r.random() < 0.9 else r.choice(["?", "!", ":"])
        if inline and self.wants_footnotes and len(self.footnotes) < 3 and r.random() < 0.05:
            self.footnotes.append(self.sentence(5, 12, inline=False))
            end += f"[^{len(self.footnotes)}]"
        return s[:1].upper() + s[1:] + end

    def paragraph(self, lo: int = 2, hi: int = 6) -> str:
        text = " ".join(self.sentence() for _ in range(self.r.randint(lo, hi)))
        return wrap(text, 80) if self.r.random() < 0.6 else text

    # --- blocks ------------------------------------------------------------

    def heading(self) -> str:
        return ("### " if self.r.random() < 0.2 else "## ") + self.w.phrase(1, 6)

    def bullet_list(self) -> str:
        r = self.r
        numbered = r.random() < 0.3
        task = not numbered and r.random() < 0.05
        lines = []
        for i in range(r.randint(2, 6)):
            marker = f"{i + 1}." if numbered else ("- [x]" if task and r.random() < 0.5 else "- [ ]" if task else "-")
            lines.append(f"{marker} {self.sentence(3, 12)}")
            if not numbered and r.random() < 0.1:
                lines.append(f"  - {self.sentence(3, 8)}")
        return "\n".join(lines)

    def code_block(self) -> str:
        r, w = self.r, self.w
        if r.random() < 0.1:
            return self.mermaid()
        lang = r.choice(CODE_LANGS)
        n = r.randint(3, 16)
        if lang == "json":
            body = "{\n" + ",\n".join(
                f'  "{w.slug_words(1)[0]}": ' + (str(r.randint(0, 999)) if r.random() < 0.3 else f'"{w.phrase(1, 4, False)}"')
                for _ in range(n)) + "\n}"
        elif lang in ("yaml", "toml"):
            sep = ": " if lang == "yaml" else " = "
            body = "\n".join(f"{w.slug_words(1)[0]}{sep}\"{w.phrase(1, 3, False)}\"" for _ in range(n))
        elif lang in ("bash", "sh"):
            body = "\n".join(f"curl -s {SITE_URL}/api/{w.slug()} | jq '.{w.slug_words(1)[0]}'" if r.random() < 0.5
                             else f"{w.slug_words(1)[0]} --{w.slug_words(1)[0]} {w.slug()}" for _ in range(n))
        elif lang == "graphql":
            fields = "\n".join(f"    {w.slug_words(1)[0]}" for _ in range(n))
            body = f"query {{\n  {w.slug_words(1)[0]}(id: \"{r.randint(1, 9999)}\") {{\n{fields}\n  }}\n}}"
        elif lang == "http":
            body = f"GET /api/{w.slug()} HTTP/1.1\nHost: api.example.net\nAccept: application/json"
        elif lang == "rust":
            body = "\n".join(f"let {w.slug_words(1)[0]} = {w.slug_words(1)[0]}(&{w.slug_words(1)[0]})?;" for _ in range(n))
            body = f"fn {w.slug_words(1)[0]}() -> Result<(), Error> {{\n" + indent(body, 4) + "\n    Ok(())\n}"
        elif lang == "js":
            body = "\n".join(f"const {w.slug_words(1)[0]} = await fetch(\"/api/{w.slug()}\");" for _ in range(n))
        else:
            body = "\n".join(w.phrase(2, 8, False) for _ in range(n))
        meta = f' showLineNumbers title="{w.slug_words(1)[0]}.{lang}"' if r.random() < 0.05 else ""
        return f"```{lang}{meta}\n{body}\n```"

    def mermaid(self) -> str:
        r, w = self.r, self.w
        if r.random() < 0.5:
            nodes = [w.slug_words(1)[0].capitalize() for _ in range(r.randint(3, 7))]
            edges = [f"  {chr(65 + i)}[{nodes[i]}] --> {chr(66 + i)}[{nodes[i + 1]}]" for i in range(len(nodes) - 1)]
            return "```mermaid\ngraph TD\n" + "\n".join(edges) + "\n```"
        actors = [w.slug_words(1)[0].capitalize() for _ in range(3)]
        lines = [f"  {r.choice(actors)}->>{r.choice(actors)}: {w.phrase(1, 4, False)}" for _ in range(r.randint(3, 8))]
        return "```mermaid\nsequenceDiagram\n" + "\n".join(lines) + "\n```"

    def table(self) -> str:
        r, w = self.r, self.w
        cols = r.randint(2, 4)
        head = "| " + " | ".join(w.phrase(1, 2) for _ in range(cols)) + " |"
        align = "| " + " | ".join(r.choice(["---", ":---", ":---:", "---:"]) for _ in range(cols)) + " |"
        rows = ["| " + " | ".join(w.phrase(1, 4, False) for _ in range(cols)) + " |" for _ in range(r.randint(2, 7))]
        return "\n".join([head, align, *rows])

    def admonition(self, kind: str | None = None, title: str | None = None) -> str:
        r, w = self.r, self.w
        kind = kind or r.choice(ADMONITIONS)
        if title is None:
            x = r.random()
            title = "" if x < 0.35 else (f" {w.phrase(1, 4)}" if x < 0.55 else f"[{w.phrase(1, 4)}]")
        body = [self.paragraph(1, 4)]
        if r.random() < 0.3:
            body.append(self.bullet_list())
        return f":::{kind}{title}\n\n" + "\n\n".join(body) + "\n\n:::"

    def blockquote(self) -> str:
        self.g.imports["Blockquote"] = 'import { Blockquote } from "@bench/design-system";'
        attrs = [f'attribution="— {self.w.phrase(1, 3)}"', 'variation="highlight"']
        self.r.shuffle(attrs)
        return "<Blockquote\n  " + "\n  ".join(attrs) + "\n>\n" + self.sentence(10, 30) + "\n</Blockquote>"

    def jsx_link(self) -> str:
        self.g.imports["Link"] = 'import Link from "@docusaurus/Link";'
        href = f"/docs/{self.w.slug()}" if self.r.random() < 0.6 else f"https://www.example.net/{self.w.slug()}"
        return f"{self.sentence(4, 10)}\n\n<Link href=\"{href}\">{self.w.phrase(2, 5)}</Link>"

    def video(self) -> str:
        return f"::video-vimeo[{self.w.phrase(1, 3, False)}]{{id={self.r.randint(100000000, 999999999)}}}"

    def details(self) -> str:
        return f"<details>\n<summary>{self.w.phrase(2, 5)}</summary>\n\n{self.paragraph(1, 3)}\n\n</details>"

    def image(self) -> str:
        name = self.new_image()
        return f"![{self.w.phrase(2, 6)}](./img/{name})\n_{self.w.phrase(3, 8)}_"

    def md_link(self) -> str:
        """A link to an older post by relative file path, as Docusaurus allows."""
        target = self.r.choice(self.older)
        rel = os.path.relpath(target, os.path.dirname(self.rel_path)).replace(os.sep, "/")
        return f"{self.sentence(4, 10)} Zie ook [{self.w.phrase(2, 4, False)}]({rel})."

    def new_image(self) -> str:
        name = f"{self.slug}-{len(self.images) + 1}.png"
        self.images.append(name)
        return name

    # --- the whole post ----------------------------------------------------

    def render(self, target: int) -> str:
        r, w, g = self.r, self.w, self.g
        g.imports = {}
        fm = self.front_matter()
        title = w.phrase(2, 9)
        if r.random() < 0.15:
            title += r.choice([f": {w.phrase(1, 4, False)}", "?", f" & {w.phrase(1, 2, False)}",
                               f" (deel {r.randint(2, 4)})", f" met `{w.slug_words(1)[0]}`"])
        self.title = title
        head = [f"# {title}"]
        if r.random() < 0.3:
            head.append(self.image())
        head += [self.paragraph(1, 4), "<!-- truncate -->"]
        if r.random() < 0.3 and target > 3000:
            head.append(self.admonition("success", r.choice(["[TL;DR]", "[**TL;DR**]"])))

        features = []
        for p, make in ((0.35, self.admonition), (0.08, self.blockquote), (0.05, self.jsx_link),
                        (0.05, self.video), (0.03, self.details), (0.07, self.table), (0.08, self.mermaid),
                        (0.15, self.image), (0.02 if self.older else 0, self.md_link)):
            if r.random() < p:
                features.append(make)
        r.shuffle(features)

        body: list[str] = []
        size = nbytes(fm) + sum(nbytes(b) + 2 for b in head) + 200
        while size < target - 600:
            x = r.random()
            # Chosen features come first once the budget runs low.
            if features and (x < 0.2 or target - size < 1500 * len(features)):
                block = features.pop()()
            elif x < 0.32:
                block = self.heading()
            elif x < 0.45:
                block = self.bullet_list()
            elif x < 0.45 + self.code_share:
                block = self.code_block()
            else:
                block = self.paragraph()
            body.append(block)
            size += nbytes(block) + 2
        for make in features:  # short posts still get their chosen features
            body.append(make())
        notes = [f"[^{i}]: {text}" for i, text in enumerate(self.footnotes, 1)]
        imports = list(g.imports.values())
        parts = [fm] + ([("\n".join(imports))] if imports else []) + head + body + notes
        text = "\n\n".join(parts) + "\n"
        short = target - nbytes(text)
        if short > 40:  # top up with one last paragraph of about the missing size
            filler = []
            while nbytes(" ".join(filler)) < short - 2:
                filler.append(self.sentence())
            parts.insert(len(parts) - len(notes), wrap(" ".join(filler), 80))
            text = "\n\n".join(parts) + "\n"
        return text

    def front_matter(self) -> str:
        r, w, g = self.r, self.w, self.g
        lines = ["---"]
        n_authors = 2 if r.random() < 0.13 else 1
        authors = r.sample(g.author_keys, n_authors)
        self.authors = authors
        style = r.random()
        if n_authors == 1 and style < 0.3:
            lines.append(f"authors: {authors[0]}")
        elif style < 0.9:
            lines.append(f"authors: [{', '.join(authors)}]")
        else:
            lines += ["authors:"] + [f"  - {a}" for a in authors]
        lines += self.tags_yaml()
        if r.random() < 0.5:
            lines += self.description_yaml()
        x = r.random()
        if x < 0.22:
            lines.append(f"image: ./img/{self.new_image()}")
        elif x < 0.27:
            lines.append(f"image: /img/{w.slug()}.jpg")
        lines.append("---")
        return "\n".join(lines)

    def tags_yaml(self) -> list[str]:
        r, g = self.r, self.g
        if r.random() < 0.01:
            self.tags = []
            return ["tags: []"]
        k = max(1, min(14, round(r.gauss(4.7, 2.2))))
        tags: list[str] = []
        self.tags = tags
        while len(tags) < k:
            t = r.choices(g.tag_keys, cum_weights=g.tag_cum, k=1)[0]
            if t not in tags:
                tags.append(t)
        quote = r.random() < 0.15
        q = [f'"{t}"' if quote or "." in t else t for t in tags]
        style = r.random()
        if style < 0.5:
            return [f"tags: [{', '.join(q)}]"]
        if style < 0.8:
            return ["tags:"] + [f"  - {t}" for t in q]
        # Multi-line flow list, the way Prettier wraps long lists: trailing comma.
        return ["tags:", "  ["] + [f"    {t}," for t in q] + ["  ]"]

    def description_yaml(self) -> list[str]:
        r = self.r
        text = " ".join(self.sentence(8, 20, inline=False) for _ in range(r.randint(1, 4)))
        text = text.replace(":", "").replace("#", "")
        style = r.random()
        if style < 0.3:
            return [f"description: {text}"]
        if style < 0.45:
            return [f"description: {json.dumps(text, ensure_ascii=False)}"]
        body = ["  " + line for line in wrap(text, 76).split("\n")]
        if style < 0.7:
            return ["description:"] + body  # multi-line plain scalar
        return [f"description: {r.choice(['|', '>'])}"] + body


class Generator:
    def __init__(self, seed: int, n_authors: int = DEFAULT_AUTHORS, n_tags: int = DEFAULT_TAGS):
        self.n_authors, self.n_tags = n_authors, n_tags
        self.rng = random.Random(seed)
        self.words = Words(self.rng)
        self.imports: dict[str, str] = {}
        self.author_keys: list[str] = []
        self.tag_keys: list[str] = []
        self.tag_cum: list[float] = []

    def authors_yaml(self) -> str:
        r, w = self.rng, self.words
        out = []
        while len(self.author_keys) < self.n_authors:
            first, last = w.slug_words(1)[0], w.slug_words(1)[0]
            if r.random() < 0.3:
                last = f"van-{last}" if r.random() < 0.5 else f"de-{last}"
            key = f"{first}-{last}"
            if key in self.author_keys:
                continue
            self.author_keys.append(key)
            name = " ".join(p if p in ("van", "de") else p.capitalize() for p in key.split("-"))
            lines = [f"{key}:", f"  name: {name}",
                     f"  title: {w.phrase(1, 3)} - bench.example.org",
                     f"  image_url: /img/team/{key}.webp"]
            if r.random() < 0.2:
                lines.append(f"  url: https://www.example.net/{key}")
            lines.append("  page: true")
            if r.random() < 0.8:
                lines.append("  socials:")
                lines.append(f"    linkedin: {key}")
                lines.append(f"    github: {first}{last.replace('-', '')[:3]}")
                if r.random() < 0.3:
                    lines.append(f"    mastodon: https://social.example.net/@{first}")
                if r.random() < 0.6:
                    lines.append(f"    email: {first}.{last.replace('-', '')}@bench.example.org")
            out.append("\n".join(lines))
        return "\n\n".join(out) + "\n"

    def tags_yaml(self) -> str:
        r, w = self.rng, self.words
        out = []
        specials = [("c-plus-plus", "C++"), ("data-en-privacy", "Data & privacy"),
                    ("bench.example.org", "bench.example.org"), ("q-en-a", "Q&A"), ("ai", "AI")]
        while len(self.tag_keys) < self.n_tags:
            if specials and r.random() < 0.05:
                key, label = specials.pop(0)
            else:
                key = w.slug(1, 2) if r.random() < 0.9 else f"{w.slug_words(1)[0]}{r.randint(2, 99)}"
                label = " ".join(p.capitalize() for p in key.split("-"))
            if key in self.tag_keys:
                continue
            self.tag_keys.append(key)
            lines = [f"{yaml_key(key)}:"]
            if r.random() < 0.6:
                desc = " ".join(w.pick(r.randint(3, 30))).capitalize().replace(":", "") + "."
                if len(desc) > 70:
                    lines += ["  description:"] + ["    " + l for l in wrap(desc, 70).split("\n")]
                else:
                    lines.append(f"  description: {desc}")
            lines.append(f"  label: {json.dumps(label, ensure_ascii=False)}")
            out.append("\n".join(lines))
        total = 0.0
        for rank in range(len(self.tag_keys)):
            total += 1.0 / (rank + 3)  # a few tags carry most posts, as on real blogs
            self.tag_cum.append(total)
        return "---\n" + "\n".join(out) + "\n"

    def dates(self, n: int) -> list[dt.date]:
        span = (LAST_DAY - FIRST_DAY).days
        return sorted(FIRST_DAY + dt.timedelta(days=self.rng.randint(0, span)) for _ in range(n))


def nbytes(s: str) -> int:
    return len(s.encode("utf-8"))


def wrap(text: str, width: int) -> str:
    lines, line = [], ""
    for word in text.split(" "):
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}" if line else word
    if line:
        lines.append(line)
    return "\n".join(lines)


def indent(text: str, n: int) -> str:
    return "\n".join(" " * n + l for l in text.split("\n"))


def yaml_key(key: str) -> str:
    return key if key.replace("-", "").isalnum() else json.dumps(key)


def png(rng: random.Random, target: int) -> bytes:
    """A valid, barely compressible PNG of about `target` bytes."""
    width = 32
    height = max(1, target // (width * 3 + 1))
    raw = b"".join(b"\x00" + rng.randbytes(width * 3) for _ in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw, 1)) + chunk(b"IEND", b"")


HUGO_CONFIG = f"""baseURL = "{SITE_URL}/"
title = "Bench blog"
languageCode = "nl"
disableKinds = ["sitemap", "robotsTXT", "404", "section", "taxonomy"]
ignoreErrors = ["error-disable-taxonomy"]
[taxonomies]
tag = "tags"
author = "authors"
[outputs]
home = ["RSS"]
term = ["RSS"]
[services.rss]
limit = 20
"""

# Hugo's own RSS template, with the full content in <description>.
HUGO_RSS = """{{- printf "<?xml version=\\"1.0\\" encoding=\\"utf-8\\" standalone=\\"yes\\"?>" | safeHTML }}
<rss version="2.0" xmlns:atom="http://www.w3.org/2005/Atom">
  <channel>
    <title>{{ .Title }} – {{ .Site.Title }}</title>
    <link>{{ .Permalink }}</link>
    <description>{{ .Title }}</description>
    <language>{{ site.LanguageCode }}</language>
    {{ with .OutputFormats.Get "RSS" }}{{ printf "<atom:link href=%q rel=\\"self\\" type=%q />" .Permalink .MediaType | safeHTML }}{{ end }}
    {{- $pages := .Pages }}{{ if .IsHome }}{{ $pages = site.RegularPages }}{{ end }}
    {{- range first 20 $pages }}
    <item>
      <title>{{ .Title }}</title>
      <link>{{ .Permalink }}</link>
      <pubDate>{{ .Date.Format "Mon, 02 Jan 2006 15:04:05 -0700" | safeHTML }}</pubDate>
      <guid>{{ .Permalink }}</guid>
      <description>{{ .Content | html }}</description>
    </item>
    {{- end }}
  </channel>
</rss>
"""


def hugo_site(hugo: str) -> None:
    """A Hugo site that writes RSS for the home page, each tag and each
    author (20 items, full content) and nothing else: the work postbode does
    for one of its three formats."""
    os.makedirs(os.path.join(hugo, "layouts", "_default"))
    os.makedirs(os.path.join(hugo, "content", "posts"))
    with open(os.path.join(hugo, "hugo.toml"), "w", encoding="utf-8") as f:
        f.write(HUGO_CONFIG)
    with open(os.path.join(hugo, "layouts", "_default", "rss.xml"), "w", encoding="utf-8") as f:
        f.write(HUGO_RSS)


def hugo_post(hugo: str, rel: str, day: dt.date, post: "Post", text: str) -> None:
    """The post with JSON front matter Hugo reads, rendered into lists but
    not written as a page of its own."""
    body = text.split("\n---\n", 1)[1]
    fm = {"title": post.title, "date": day.isoformat(), "tags": post.tags,
          "authors": post.authors, "_build": {"render": "link"}}
    path = os.path.join(hugo, "content", "posts", rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write(json.dumps(fm, ensure_ascii=False) + "\n" + body)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out_dir", metavar="OUT_DIR")
    ap.add_argument("--posts", type=int, required=True, metavar="N")
    ap.add_argument("--tags", type=int, default=DEFAULT_TAGS, metavar="T",
                    help=f"tags in tags.yml (default {DEFAULT_TAGS})")
    ap.add_argument("--authors", type=int, default=DEFAULT_AUTHORS, metavar="A",
                    help=f"authors in authors.yml (default {DEFAULT_AUTHORS})")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--hugo", action="store_true",
                    help="also write OUT_DIR/hugo: the same posts as a Hugo site that writes RSS only")
    ap.add_argument("--force", action="store_true", help="replace an existing blog in OUT_DIR")
    args = ap.parse_args(argv)
    if args.posts < 1:
        ap.error("--posts must be at least 1")
    if args.tags < 15 or args.authors < 2:
        ap.error("--tags must be at least 15 and --authors at least 2")

    out = args.out_dir
    blog = os.path.join(out, "blog")
    if os.path.exists(blog):
        if not args.force:
            print(f"gen_blog: {blog} exists (use --force to replace it)", file=sys.stderr)
            return 2
        shutil.rmtree(blog)
    os.makedirs(blog)

    hugo = os.path.join(out, "hugo") if args.hugo else None
    if hugo:
        shutil.rmtree(hugo, ignore_errors=True)
        hugo_site(hugo)
    g = Generator(args.seed, args.authors, args.tags)
    with open(os.path.join(blog, "authors.yml"), "w", encoding="utf-8") as f:
        f.write(g.authors_yaml())
    with open(os.path.join(out, "tags.yml"), "w", encoding="utf-8") as f:
        f.write(g.tags_yaml())

    # Sizes from the distribution's quantiles rather than random draws, so the
    # total is the same for every seed and size (random draws wander by ±2%).
    mu = math.log(LOGNORMAL_MEAN_BYTES) - SIZE_SIGMA ** 2 / 2
    sizes = NormalDist(mu, SIZE_SIGMA)
    targets = [min(MAX_POST_BYTES, max(MIN_POST_BYTES, round(math.exp(sizes.inv_cdf((i + 0.5) / args.posts)))))
               for i in range(args.posts)]
    g.rng.shuffle(targets)
    used: set[str] = set()
    written: list[str] = []
    total_bytes = n_images = image_bytes = 0
    for day, target in zip(g.dates(args.posts), targets):
        slug = g.words.slug(1, 5)
        d = str(day.day) if g.rng.random() < 0.5 else f"{day.day:02d}"
        rel = f"{day.year}/{day.month:02d}/{d}-{slug}.md"
        while rel in used or f"{day:%Y/%m}/{day.day}-{slug}" in used:
            slug += f"-{g.rng.randint(2, 99)}"
            rel = f"{day.year}/{day.month:02d}/{d}-{slug}.md"
        used.add(rel)
        used.add(f"{day:%Y/%m}/{day.day}-{slug}")  # 7-x and 07-x share a permalink
        post = Post(g, rel, slug, written[-200:])
        text = post.render(target)
        path = os.path.join(blog, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        total_bytes += nbytes(text)
        for name in post.images:
            img_dir = os.path.join(os.path.dirname(path), "img")
            os.makedirs(img_dir, exist_ok=True)
            data = png(g.rng, g.rng.randint(1000, 6000))
            with open(os.path.join(img_dir, name), "wb") as f:
                f.write(data)
            n_images += 1
            image_bytes += len(data)
        written.append(rel)
        if hugo:
            hugo_post(hugo, rel, day, post, text)

    with open(os.path.join(out, "bench.toml"), "w", encoding="utf-8") as f:
        f.write(
            "# Generated by benches/gen_blog.py: a synthetic blog for postbode's benchmarks.\n"
            f"# {args.posts} posts, {args.tags} tags, {args.authors} authors, seed {args.seed}. Relative paths are relative to this file.\n"
            f'title = "Bench blog ({args.posts} posts)"\n'
            'description = "Synthetic posts for benchmarking postbode"\n'
            f'site_url = "{SITE_URL}"\n'
            'source = "blog"\n'
            'tags_file = "tags.yml"\n'
            'output = "out"\n'
            'language = "nl"\n'
        )
    print(f"gen_blog: {out}: {args.posts} posts, {total_bytes / 1e6:.1f} MB Markdown "
          f"(mean {total_bytes / args.posts / 1000:.2f} KB), {n_images} images "
          f"({image_bytes / 1e6:.1f} MB), {args.authors} authors, {args.tags} tags")
    return 0


if __name__ == "__main__":
    sys.exit(main())
