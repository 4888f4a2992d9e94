"""Reader: a folder of news files -> clean NewsItem records and Problems.

Knows YAML front matter, HTML, the everyday-cc fields, URL identity and the
merging of `related:` entries. Knows nothing of the index.

An article is identified by its canonical URL (webUrl, else originalUrl, else
the file's path). A file contributes its own entry plus one entry per item of
its `related:` list; entries with the same URL become one NewsItem. A file's
own data wins over copies seen in other files' `related:` lists.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import html
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator
from urllib.parse import urlsplit, urlunsplit

import yaml

from searchapp.model import CONTROLS as _CONTROLS, INVISIBLE, NewsItem, Problem, Provider


NEWS_SUFFIXES = frozenset({".md", ".markdown", ".html", ".htm"})
HTML_SUFFIXES = frozenset({".html", ".htm"})
# Folder documentation (README.md, SOURCE.md, LICENSE.md: an all-capitals
# name), not news: never read, never reported as a broken news file.
def is_folder_doc(name: str) -> bool:
    stem = os.path.splitext(name)[0]
    return stem.isupper() and stem.replace("_", "").replace("-", "").isalpha()

MAX_FILE_BYTES = 8 * 1024 * 1024      # larger files are skipped with a reason
MAX_TEXT_CHARS = 1_000_000            # longer bodies are truncated
MAX_FIELD_CHARS = 10_000              # longer titles/excerpts are truncated
MAX_RELATED = 200                     # more related entries are ignored

# libyaml's safe loader when present (same safety, about 10x faster).
_SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

_FRONT_MATTER = re.compile(r"\A\ufeff?---[ \t]*\r?\n(.*?)^(?:---|\.\.\.)[ \t]*(?:\r?\n|\Z)", re.S | re.M)
_SPACES = re.compile(r"\s+")
# What a file name may not show as-is in a report or a page: controls
# (a newline would start a fake report line), invisible characters, and
# lone surrogates (bytes of a name that is not UTF-8).
_UNSAFE_NAME = re.compile("[\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff"
                          "\ud800-\udfff]")


@dataclass(frozen=True)
class Entry:
    """One article as seen in one file: the file's own item or a related one."""

    url: str
    title: str
    excerpt: str
    body: str
    published: dt.datetime | None
    provider: Provider
    topics: tuple[str, ...]
    type: str
    quality: int | None
    heat: int | None
    is_published: bool | None
    image_url: str


@dataclass(frozen=True)
class FileRecord:
    """What one file says: its own entry and the entries of its related list."""

    path: str
    own: Entry
    related: tuple[Entry, ...] = ()


@dataclass(frozen=True)
class Corpus:
    items: tuple[NewsItem, ...]
    problems: tuple[Problem, ...]
    files_read: int


class BadFile(ValueError):
    """A file that cannot be turned into news; the message is the reason."""


# ---------------------------------------------------------------- identity

def canonical_url(url: str) -> str:
    """Same article, same key: trim, lowercase scheme and host, drop fragment."""
    url = url.strip()
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if not parts.scheme or not parts.netloc:
        return url
    return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), parts.path, parts.query, ""))


@functools.lru_cache(maxsize=1 << 18)  # an article is met in several files: hash its URL once
def item_id(url: str) -> str:
    """Stable, URL-safe id derived from the canonical URL."""
    # surrogatepass: a URL made from a file name that is not UTF-8 still has an id
    return hashlib.sha1(canonical_url(url).encode("utf-8", "surrogatepass")).hexdigest()[:16]


def domain_of(url: str) -> str:
    try:
        host = urlsplit(url).hostname or ""
    except ValueError:
        return ""
    return host[4:] if host.startswith("www.") else host


# ---------------------------------------------------------------- text

def _escape_char(match: re.Match) -> str:
    char = match.group()
    code = ord(char)
    if 0xDC80 <= code <= 0xDCFF:      # a byte of a name that is not UTF-8 (os.fsdecode's surrogateescape)
        return f"\\x{code - 0xDC00:02x}"
    return {"\n": "\\n", "\r": "\\r", "\t": "\\t"}.get(char) or (
        f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")


def display_path(rel: str) -> str:
    """A file's path as reports, pages and ids show it: always valid UTF-8,
    on one line, nothing invisible (`caf\\xe9.md`, `a\\nb.md`)."""
    return _UNSAFE_NAME.sub(_escape_char, rel)


def strip_liquid(text: str) -> str:
    """Drop Liquid/Jekyll tags (`{% ... %}`, `{{ ... }}`) in linear time.

    The same result as re.sub(r"\\{%.*?%\\}|\\{\\{.*?\\}\\}", " ", text, flags=re.S),
    which is quadratic when a tag is never closed ('{%' * 100000 took 50 s):
    once no closing mark follows an opening one, no later opening of that
    kind can close either, so it is never looked for again."""
    if "{" not in text:
        return text
    out: list[str] = []
    i = 0
    next_at = {"{%": -2, "{{": -2}      # cached positions of the next opening of each kind; -1: none left
    closes = {"{%": "%}", "{{": "}}"}
    while True:
        for mark in next_at:
            if next_at[mark] != -1 and next_at[mark] < i:
                next_at[mark] = text.find(mark, i)
        found = [(at, mark) for mark, at in next_at.items() if at != -1]
        if not found:
            break
        start, mark = min(found)
        end = text.find(closes[mark], start + 2)
        if end == -1:
            next_at[mark] = -1
            continue
        out.append(text[i:start])
        out.append(" ")
        i = end + 2
    out.append(text[i:])
    return "".join(out)


_SKIPPED_TAGS = ("script", "style", "head", "template", "noscript", "iframe", "svg")
_TAG_NAME = re.compile(r"/?([a-zA-Z][^\s/>]*)")


def _html_chunks(markup: str) -> list[str]:
    """The visible text of HTML, in linear time and memory whatever the markup.

    A small scanner instead of a parser: tags, comments, declarations and
    the contents of script, style, head, template, noscript, iframe and svg
    are dropped, text between them kept (entities decoded); unclosed
    constructs end the text. BeautifulSoup and html.parser build trees (a
    7.9 MiB body of nested <div>s took 17 s and 1 GB) and html.parser is
    quadratic on unclosed comments ('<!--' * 200000 took 8 minutes)."""
    lower = None
    chunks: list[str] = []
    i, n = 0, len(markup)
    while i < n:
        lt = markup.find("<", i)
        if lt == -1:
            chunks.append(markup[i:])
            break
        if lt > i:
            chunks.append(markup[i:lt])
        nxt = markup[lt + 1:lt + 2]
        if markup.startswith("<!--", lt):
            end = markup.find("-->", lt + 4)
            if end == -1:
                break
            chunks.append(" ")
            i = end + 3
            continue
        if not (nxt.isascii() and (nxt.isalpha() or nxt in "/!?")):
            chunks.append("<")       # a lone '<' is text
            i = lt + 1
            continue
        gt = markup.find(">", lt + 1)
        if gt == -1:
            break
        chunks.append(" ")
        i = gt + 1
        name = _TAG_NAME.match(markup, lt + 1)
        if name and nxt != "/" and markup[gt - 1] != "/":
            tag = name.group(1).lower()
            if tag in _SKIPPED_TAGS:
                if lower is None:
                    lower = markup.lower()
                close = lower.find("</" + tag, i)
                if close == -1:
                    break
                end = markup.find(">", close)
                if end == -1:
                    break
                i = end + 1
    return chunks


def _visible_text(markup: str) -> str:
    return html.unescape("".join(_html_chunks(markup)))


def _tidy(text: str) -> str:
    return _SPACES.sub(" ", _CONTROLS.sub(" ", INVISIBLE.sub("", text))).strip()


def clean_text(value: str, limit: int = MAX_FIELD_CHARS) -> str:
    """Inline HTML and entities -> plain text with single spaces; nothing invisible."""
    if "<" in value or "&" in value:
        value = _visible_text(value)
    return _tidy(value)[:limit]


def html_to_text(markup: str) -> str:
    """A whole HTML document (e-mail newsletters included) -> its visible text."""
    return _tidy(_visible_text(strip_liquid(markup)))[:MAX_TEXT_CHARS]


def markdown_to_text(markdown: str) -> str:
    """Markdown is indexed as text; inline HTML and Liquid tags are dropped."""
    text = strip_liquid(markdown)
    if "<" in text:
        return html_to_text(text)
    return _tidy(text)[:MAX_TEXT_CHARS]


# ---------------------------------------------------------------- fields

def _str(data: dict, key: str, where: str, limit: int = MAX_FIELD_CHARS) -> str:
    value = data.get(key)
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise BadFile(f"field '{where}{key}' must be text, got {type(value).__name__}")
    return clean_text(str(value), limit)


def _url(data: dict, key: str, where: str) -> str:
    value = data.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise BadFile(f"field '{where}{key}' must be a URL string, got {type(value).__name__}")
    return value.strip()[:2048]


def _int(data: dict, key: str, where: str) -> int | None:
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadFile(f"field '{where}{key}' must be an integer, got {type(value).__name__}")
    return value


def _bool(data: dict, key: str, where: str) -> bool | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, bool):
        raise BadFile(f"field '{where}{key}' must be true or false, got {type(value).__name__}")
    return value


def _date(data: dict, key: str, where: str) -> dt.datetime | None:
    value = data.get(key)
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        moment = value
    elif isinstance(value, dt.date):
        moment = dt.datetime(value.year, value.month, value.day)
    elif isinstance(value, str):
        try:
            moment = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except (ValueError, OverflowError):
            raise BadFile(f"field '{where}{key}' is not an ISO 8601 date: {value[:40]!r}") from None
    else:
        raise BadFile(f"field '{where}{key}' must be a date, got {type(value).__name__}")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.timezone.utc)
    try:
        return moment.astimezone(dt.timezone.utc)
    except (OverflowError, ValueError):
        raise BadFile(f"field '{where}{key}' is out of range: {value!s:.40}") from None


def _topics(data: dict, where: str) -> tuple[str, ...]:
    value = data.get("topics")
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(t, str) for t in value):
        raise BadFile(f"field '{where}topics' must be a list of names")
    return tuple(dict.fromkeys(t for t in (clean_text(t, 100) for t in value) if t))


def _provider(data: dict, url: str, where: str) -> Provider:
    value = data.get("provider")
    if value is None:
        value = {}
    if not isinstance(value, dict):
        raise BadFile(f"field '{where}provider' must be a mapping with name and domain, got {type(value).__name__}")
    domain = _str(value, "domain", f"{where}provider.", 255).lower() or domain_of(url)
    name = _str(value, "name", f"{where}provider.", 255) or domain
    return Provider(name=name, domain=domain)


def _image(data: dict, where: str) -> str:
    images = data.get("images")
    if images is None:
        return ""
    if not isinstance(images, list):
        raise BadFile(f"field '{where}images' must be a list, got {type(images).__name__}")
    for image in images:
        if isinstance(image, dict) and isinstance(image.get("url"), str):
            return image["url"].strip()[:2048]
    return ""


def _entry(data: Any, where: str, fallback_url: str = "", body: str = "", own: bool = False) -> Entry:
    if not isinstance(data, dict):
        raise BadFile(f"'{where.rstrip('.') or 'front matter'}' must be a mapping, got {type(data).__name__}")
    url = _url(data, "webUrl", where) or _url(data, "originalUrl", where) or fallback_url
    title = _str(data, "title", where)
    if own and not title:
        raise BadFile("missing 'title'")
    return Entry(
        url=url,
        title=title,
        excerpt=_str(data, "excerpt", where),
        body=body,
        published=_date(data, "publishedDateTime", where),
        provider=_provider(data, url, where),
        topics=_topics(data, where) if own else (),
        type=_str(data, "type", where, 50),
        quality=_int(data, "quality", where),
        heat=_int(data, "heat", where),
        is_published=_bool(data, "published", where),
        image_url=_image(data, where),
    )


# ---------------------------------------------------------------- files

MAX_YAML_DEPTH = 64      # deeper flow nesting is refused before libyaml sees it


def yaml_depth(text: str, limit: int = MAX_YAML_DEPTH) -> int:
    """The deepest [ { nesting outside quotes, counted up to limit + 1.

    libyaml recurses in C on nested flow collections: about 100,000 levels
    crash the whole process with a segmentation fault, which no Python
    exception handler can catch. Counting first keeps a hostile file a Problem."""
    if text.count("[") + text.count("{") <= limit:
        return 0
    depth = deepest = 0
    quote = ""
    for char in text:
        if quote:
            if char == quote or char == "\n":
                quote = ""
        elif char in "\"'":
            quote = char
        elif char in "[{":
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > limit:
                    break
        elif char in "]}":
            depth = max(0, depth - 1)
    return deepest


def split_front_matter(text: str) -> tuple[dict, str]:
    match = _FRONT_MATTER.match(text)
    if not match:
        if text.lstrip("\ufeff").startswith("---"):
            raise BadFile("front matter is not closed by a '---' line")
        raise BadFile("no YAML front matter (the file must start with a '---' line)")
    if yaml_depth(match.group(1)) > MAX_YAML_DEPTH:
        raise BadFile(f"YAML front matter is nested more than {MAX_YAML_DEPTH} levels deep")
    try:
        data = yaml.load(match.group(1), Loader=_SafeLoader)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 2}" if mark is not None else ""
        problem = getattr(error, "problem", None) or type(error).__name__
        raise BadFile(f"broken YAML front matter{where}: {problem}") from None
    except RecursionError:
        raise BadFile("YAML front matter is nested too deeply") from None
    except (ValueError, OverflowError, TypeError) as error:  # e.g. a date such as 2023-02-30
        digits = re.search(r"value has (\d+) digits", str(error))
        if digits:   # not Python's advice to raise its int-string limit (found in review)
            raise BadFile(f"invalid value in YAML front matter: a number too long ({digits.group(1)} digits)") from None
        raise BadFile(f"invalid value in YAML front matter: {error}") from None
    if not isinstance(data, dict):
        raise BadFile(f"front matter must be a YAML mapping, got {type(data).__name__}")
    return data, text[match.end():]


@dataclass(frozen=True, slots=True)
class FileState:
    """What says whether a file changed since the last run (slots: a build
    holds one per file, 56 bytes + values instead of about 350)."""

    path: str
    size: int
    mtime_ns: int
    sha256: str = ""
    ctime_ns: int = -1     # cp -p, rsync -t and tar restore size and mtime, but never ctime
    inode: int = -1

    def same_stat(self, other: "FileState") -> bool:
        return (self.size, self.mtime_ns, self.ctime_ns, self.inode) == (
            other.size, other.mtime_ns, other.ctime_ns, other.inode)


def check_inside(root: Path, path: Path) -> None:
    """A corpus is a folder: a symlink may not pull in a file from elsewhere."""
    if path.is_symlink() and not path.resolve().is_relative_to(root.resolve()):
        raise BadFile("symbolic link to a file outside the corpus folder")


def stat_file(path: Path, rel_path: str) -> FileState:
    """Size and mtime, without following the file's content; BadFile if it is no plain file."""
    try:
        info = path.stat()
    except OSError as error:
        raise BadFile(f"cannot read file: {error.strerror or error}") from None
    if not stat.S_ISREG(info.st_mode):
        raise BadFile("not a regular file")
    return FileState(rel_path, info.st_size, info.st_mtime_ns, "", info.st_ctime_ns, info.st_ino)


def read_bytes(path: Path, state: FileState) -> bytes:
    if state.size > MAX_FILE_BYTES:
        raise BadFile(f"file is too large ({state.size:,} bytes; the limit is {MAX_FILE_BYTES:,})")
    try:
        with open(path, "rb") as handle:
            # the stat's size, not the limit: read(n) allocates n bytes first (8 MB a file: 26 us
            # a file against 10, measured over 5,000); a file grown since is read on to the limit
            data = handle.read(state.size + 1)
            if len(data) > state.size:
                data += handle.read(MAX_FILE_BYTES + 1 - len(data))
            return data
    except OSError as error:
        raise BadFile(f"cannot read file: {error.strerror or error}") from None


def content_hash(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


def parse_file(path: Path, rel_path: str) -> FileRecord:
    """One file -> its FileRecord; raises BadFile with the reason."""
    raw = read_bytes(path, stat_file(path, rel_path))
    return parse_bytes(raw, rel_path)


def parse_bytes(raw: bytes, rel_path: str) -> FileRecord:
    """A file's content -> its FileRecord; raises BadFile with the reason."""
    if len(raw) > MAX_FILE_BYTES:
        raise BadFile(f"file is too large (over {MAX_FILE_BYTES:,} bytes)")
    if not raw.strip():
        raise BadFile("file is empty")
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise BadFile("not UTF-8 text (UTF-16, by its byte order mark)")
    if b"\x00" in raw:
        raise BadFile("binary file (contains NUL bytes)")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise BadFile(f"not UTF-8 text (invalid byte at offset {error.start})") from None
    data, rest = split_front_matter(text)
    data.pop("secured", None)  # opaque blob: never read further, never indexed
    is_html = os.path.splitext(rel_path)[1].lower() in HTML_SUFFIXES
    body = html_to_text(rest) if is_html else markdown_to_text(rest)
    own = _entry(data, "", fallback_url=f"file:{rel_path}", body=body, own=True)
    related = data.get("related")
    if related is None:
        related = []
    if not isinstance(related, list):
        raise BadFile(f"field 'related' must be a list, got {type(related).__name__}")
    entries = []
    for n, raw_entry in enumerate(related[:MAX_RELATED]):
        entry = _entry(raw_entry, f"related[{n}].")
        if entry.url and entry.url != own.url:
            entries.append(entry)
    return FileRecord(path=rel_path, own=own, related=tuple(entries))


def list_news_files(root: Path) -> list[Path]:
    """News files below root, sorted; follows no symlinked folders (no loops)."""
    return [Path(name) for name in news_file_names(root)]


def news_file_names(root: Path) -> list[str]:
    """list_news_files as strings: a million Path objects take about 0.5 GB."""
    found = []
    for folder, dirs, files in os.walk(root, followlinks=False):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if name.startswith(".") or is_folder_doc(name):
                continue
            if os.path.splitext(name)[1].lower() in NEWS_SUFFIXES:
                found.append(os.path.join(folder, name))
    return found


def read_files(root: Path, paths: Iterable[Path]) -> tuple[list[FileRecord], list[Problem]]:
    records, problems = [], []
    for path in paths:
        rel = display_path(path.relative_to(root).as_posix())
        try:
            check_inside(root, path)
            records.append(parse_file(path, rel))
        except BadFile as error:
            problems.append(Problem(rel, str(error)))
        except RecursionError:
            problems.append(Problem(rel, "content is nested too deeply"))
        except Exception as error:  # last resort: one file never stops the rest
            problems.append(Problem(rel, f"unexpected error: {type(error).__name__}: {error}"))
    return records, problems


# ---------------------------------------------------------------- merging

def _first(values: Iterable):
    return next((v for v in values if v not in (None, "", ())), None)


def merge_records(records: Iterable[FileRecord]) -> list[NewsItem]:
    """Entries with the same canonical URL -> one NewsItem, in a stable order.

    Field by field, the first non-empty value wins, own entries (by path)
    before related copies (by path). Topics: an item's own file's topics, or
    for an item known only from related lists, the union of the topics of
    the files that list it.
    """
    merger = Merger()
    for record in sorted(records, key=lambda r: r.path):
        merger.add(record)
    return list(merger.items())


# Slots of one item in a Merger (a list per item: about 200 bytes, no Entry kept).
_FIELDS = ("url", "title", "excerpt", "published", "provider", "type", "quality", "heat", "is_published",
           "image_url")
_BODY, _OWN_TOPICS, _LISTING_TOPICS, _OWN_FILES, _COPY_FILES, _LISTS, _LISTED_BY, _OWN_BITS, _FILE_LISTS = range(10, 19)
_EMPTY = (None, "", ())


class Merger:
    """merge_records, one record at a time, keeping per item only its merged
    fields so far (no Entry, no related copy): records must come in path
    order. The body is kept as text, or (`keep_bodies=False`) as the number
    of the record that has it, read back through `items(body=...)` when the
    item is written: a build then holds titles and excerpts, not bodies."""

    def __init__(self, keep_bodies: bool = True):
        self.keep_bodies = keep_bodies
        self.paths: list[str] = []
        self.slots: dict[str, list] = {}   # item id -> slots; insertion order = merge_records' order
        self.shared: dict = {}   # one object per distinct id, provider, type (a million items repeat them)

    def __len__(self) -> int:
        return len(self.slots)

    def _slots(self, iid: str) -> list:
        slots = self.slots.get(iid)
        if slots is None:
            slots = self.slots[iid] = [None] * 10 + ["", (), (), [], [], (), (), 0, None]
        return slots

    def _take(self, slots: list, entry: Entry, own: bool) -> None:
        """First non-empty value per field: an own entry's beats any copy's."""
        bits = slots[_OWN_BITS]
        values = (entry.url, entry.title, entry.excerpt, entry.published,
                  entry.provider if entry.provider.name else None, entry.type, entry.quality, entry.heat,
                  entry.is_published, entry.image_url)
        for n, value in enumerate(values):
            if bits >> n & 1:
                continue
            if n == 0:   # the url: the first entry's, empty or not (own entries first)
                if own or slots[0] is None:
                    slots[0] = value
                    if own:
                        bits |= 1
                continue
            if value in _EMPTY:
                continue
            if n == 4 or n == 5:   # provider, type
                value = self.shared.setdefault(value, value)
            if own:
                slots[n] = value
                bits |= 1 << n
            elif slots[n] is None:
                slots[n] = value
        slots[_OWN_BITS] = bits

    def add(self, record: FileRecord) -> None:
        number = len(self.paths)
        self.paths.append(record.path)
        shared = self.shared
        own_id = item_id(record.own.url)
        own_id = shared.setdefault(own_id, own_id)
        own = self._slots(own_id)
        self._take(own, record.own, True)
        if record.own.body and not own[_BODY]:
            own[_BODY] = record.own.body if self.keep_bodies else number + 1   # 0 and "" mean none
        if record.own.topics:
            own[_OWN_TOPICS] = tuple(dict.fromkeys(own[_OWN_TOPICS] + record.own.topics))
        own[_OWN_FILES].append(number)
        if len(own[_OWN_FILES]) == 2:   # which own file lists what: kept only for the rare item with several
            own[_FILE_LISTS] = {own[_OWN_FILES][0]: own[_LISTS]}
        lists = dict.fromkeys(own[_LISTS])
        listed_here = []
        for entry in record.related:
            rid = item_id(entry.url)
            if rid == own_id:
                continue
            rid = shared.setdefault(rid, rid)
            copy = self._slots(rid)
            self._take(copy, entry, False)
            copy[_COPY_FILES].append(number)
            if own_id not in copy[_LISTED_BY]:
                copy[_LISTED_BY] += (own_id,)
            if record.own.topics:
                copy[_LISTING_TOPICS] = tuple(dict.fromkeys(copy[_LISTING_TOPICS] + record.own.topics))
            lists[rid] = None
            listed_here.append(rid)
        own[_LISTS] = tuple(lists)
        if own[_FILE_LISTS] is not None:
            own[_FILE_LISTS][number] = tuple(listed_here)

    def _title(self, slots: list) -> str:
        return slots[1] or slots[0]

    def story_input(self, iid: str) -> NewsItem:
        """The fields story grouping reads (indexing's story_input of the merged item)."""
        slots = self.slots[iid]
        return NewsItem(id=iid, url=slots[0], title=self._title(slots), excerpt=slots[2] or "",
                        published=slots[3], provider=slots[4] or Provider())

    def item(self, iid: str, body=None) -> NewsItem:
        """The merged item; `body(path)` reads the own body of the record at `path`
        (needed when bodies are not kept)."""
        slots = self.slots[iid]
        has_own = bool(slots[_OWN_FILES])
        text = slots[_BODY]
        if not self.keep_bodies:
            text = body(self.paths[text - 1]) if text else ""
        related_text = " \n".join(
            f"{self._title(self.slots[rid])} {self.slots[rid][2] or ''}".strip() for rid in slots[_LISTS])
        paths = self.paths
        lists_from = ()
        if slots[_FILE_LISTS] is not None:
            lists_from = tuple(tuple(paths[n] for n in slots[_OWN_FILES] if rid in slots[_FILE_LISTS][n])
                               for rid in slots[_LISTS])
        return NewsItem(
            id=iid,
            url=slots[0],
            title=self._title(slots),
            excerpt=slots[2] or "",
            body=text or "",
            published=slots[3],
            provider=slots[4] or Provider(),
            topics=slots[_OWN_TOPICS] if has_own else slots[_LISTING_TOPICS],
            type=slots[5] or "",
            quality=slots[6],
            heat=slots[7],
            is_published=slots[8],
            image_url=slots[9] or "",
            source_files=tuple(dict.fromkeys(paths[n] for n in slots[_OWN_FILES] + slots[_COPY_FILES])),
            has_own_file=has_own,
            related_ids=slots[_LISTS],
            related_by_ids=slots[_LISTED_BY],
            related_text=related_text[:MAX_TEXT_CHARS],
            own_files=tuple(dict.fromkeys(paths[n] for n in slots[_OWN_FILES])),
            lists_from=lists_from,
        )

    def ids(self) -> list[str]:
        return list(self.slots)

    def items(self, ids: Iterable[str] | None = None, body=None) -> Iterator[NewsItem]:
        for iid in (self.slots if ids is None else ids):
            yield self.item(iid, body)


def read_corpus(root: str | Path, paths: Iterable[Path] | None = None) -> Corpus:
    """Read a corpus folder. `paths` lets a caller wrap the file list (a progress bar)."""
    root = Path(root)
    if paths is None:
        paths = list_news_files(root)
    records, problems = read_files(root, paths)
    return Corpus(
        items=tuple(merge_records(records)),
        problems=tuple(problems),
        files_read=len(records) + len(problems),
    )
