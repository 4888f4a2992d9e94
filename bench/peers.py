"""Peers for the benchmark: other ways to answer the same faceted searches.

Each peer answers a benchmark query dict

    {"q": str, "topic": str|None, "provider": str|None, "year": int|None,
     "sort": "relevance"|"newest", "page": int (1-based), "per_page": 10}

with {"total": int, "ids": [...], "snippets": [...],
      "facets": {"topic": {value: n}, "provider": {value: n}, "year": {int: n}}}.

    SQLite FTS5    stdlib sqlite3, one connection kept open
    Tantivy        tantivy-py in-process: the native-speed limit
    Datasette      the same FTS5 file served over HTTP (faceted table view)
    Naive Whoosh   Whoosh as a first prototype would use it: fresh searcher per query

Queries are turned into each engine's syntax by `clauses()`: every plain word
and the one "quoted phrase" become one quoted string, so no input is ever a
syntax error and all engines see the same AND of phrases. Facets are plain
conjunctive counts under the query and all filters (searchapp's are
disjunctive per facet: one facet's counts ignore that facet's own filter).

    python bench/peers.py          # self-check on /work/shared/corpus
"""

from __future__ import annotations

import html
import json
import re
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from collections import Counter
from pathlib import Path

FIELDS = ("title", "excerpt", "body", "related_text")
WEIGHTS = {"title": 3.0, "excerpt": 1.5, "body": 1.0, "related_text": 0.3}
PER_PAGE = 10
FACET_SIZE = 100          # values returned per facet, most frequent first (all are counted)
SNIPPET_WORDS = 12

_PHRASE = re.compile(r'"([^"]*)"')
_HAS_WORD = re.compile(r"[^\W_]")


def clauses(q: str) -> list[str]:
    """The query as a list of clauses that must all match, in query order.

    A clause is one word, or the quoted phrase's words joined by spaces. Quotes
    and backslashes are removed (they are syntax everywhere); clauses without a
    letter or digit are dropped, since every tokenizer here would drop them.
    A word with inner punctuation ("state-of-the-art", "China's") is a phrase
    of its tokens in FTS5, Tantivy and Whoosh alike."""
    match = _PHRASE.search(q)
    if match:
        parts = _words(q[: match.start()]) + [" ".join(match.group(1).split())] + _words(q[match.end():])
    else:
        parts = _words(q)
    parts = [" ".join(p.replace("\\", " ").split()) for p in parts]
    return [p for p in parts if _HAS_WORD.search(p)]


def _words(text: str) -> list[str]:
    return text.replace('"', " ").split()


def quoted(q: str) -> str:
    """`"facial recognition" "china"`: valid FTS5, Tantivy and Whoosh syntax alike."""
    return " ".join('"' + c.replace('"', '""') + '"' for c in clauses(q))


def _page(query: dict) -> tuple[int, int]:
    per_page = int(query.get("per_page") or PER_PAGE)
    return per_page, (max(1, int(query.get("page") or 1)) - 1) * per_page


def _top(counts: dict) -> dict:
    """The FACET_SIZE most frequent values, ties by value."""
    ordered = sorted(counts.items(), key=lambda kv: (-kv[1], str(kv[0])))
    return dict(ordered[:FACET_SIZE])


def _plain_snippet(text: str, words: int = SNIPPET_WORDS * 2) -> str:
    split = text.split()
    return html.escape(" ".join(split[:words]) + (" …" if len(split) > words else ""))


# ---------------------------------------------------------------- SQLite FTS5

class Fts5Peer:
    """SQLite FTS5 (external content table, porter stemming) in-process.

    Ranking: bm25(items_fts, 3.0, 1.5, 1.0, 0.3). Three statements per search:
    1. total and facets: GROUP BY provider, year over the matches under the
       filters (the pairs also sum to the total), UNION ALL a GROUP BY topic
       via item_topics;
    2. the page's rowids, ORDER BY bm25() or published DESC, rowid (newest,
       as Datasette orders it; no score tie-break);
    3. ids and snippet() for those 10 rows only (in statement 2 it would be
       computed for every match before sorting).
    Measured on 100k items: this beats a MATERIALIZED CTE of the matches and
    separate count/provider/year passes; ORDER BY bm25() beats a configured
    ORDER BY rank; items is joined only when a filter or the sort needs it.
    The text match always drives (CROSS JOIN; EXISTS for topic): a plain
    `rowid IN (topic rows)` makes FTS5 run one MATCH per listed rowid (6 s).

    Facets are conjunctive: counted under the query and all filters. Snippets
    are FTS5's, not HTML-escaped. FTS5 has no stop words (Whoosh drops them),
    unicode61 folds diacritics, and its Porter stems differ a little from
    Whoosh's (banned -> ban here, bann there)."""

    name = "SQLite FTS5"

    def __init__(self, db_path: str | Path | None = None):
        self.conn: sqlite3.Connection | None = None
        if db_path is not None:
            self.open(db_path)

    @staticmethod
    def check_fts5() -> None:
        conn = sqlite3.connect(":memory:")
        try:
            conn.execute("CREATE VIRTUAL TABLE t USING fts5(x)")
        except sqlite3.OperationalError as error:
            raise RuntimeError(f"this Python's SQLite ({sqlite3.sqlite_version}) has no FTS5: {error}") from None
        finally:
            conn.close()

    @classmethod
    def build(cls, items, db_path: str | Path) -> None:
        """Write a plain on-disk SQLite file (Datasette serves the same file)."""
        cls.check_fts5()
        db_path = Path(db_path)
        db_path.unlink(missing_ok=True)
        conn = sqlite3.connect(db_path)
        try:
            conn.executescript("""
                CREATE TABLE items (
                    rowid INTEGER PRIMARY KEY, id TEXT UNIQUE, title TEXT, excerpt TEXT, body TEXT,
                    related_text TEXT, url TEXT, provider TEXT, year INTEGER, published TEXT, topics TEXT);
                CREATE TABLE item_topics (
                    item_rowid INTEGER NOT NULL, topic TEXT NOT NULL, PRIMARY KEY (item_rowid, topic)
                ) WITHOUT ROWID;
            """)
            with conn:  # one transaction, one pass over `items` (a generator streams a million)
                for n, it in enumerate(items, 1):
                    topics = list(dict.fromkeys(it.topics))
                    conn.execute(
                        "INSERT INTO items VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                        (n, it.id, it.title, it.excerpt, it.body, it.related_text, it.url,
                         it.provider.name or None, it.published.year if it.published else None,
                         it.published.isoformat() if it.published else None,
                         json.dumps(topics, ensure_ascii=False)))
                    conn.executemany("INSERT INTO item_topics VALUES (?,?)", ((n, topic) for topic in topics))
                conn.executescript("""
                    CREATE INDEX item_topics_topic ON item_topics(topic, item_rowid);
                    CREATE INDEX items_provider ON items(provider, year);  -- also covers the facet pairs
                    CREATE INDEX items_year ON items(year);
                    CREATE INDEX items_published ON items(published);
                    -- content="items" in double quotes: that is how Datasette finds the FTS table.
                    CREATE VIRTUAL TABLE items_fts USING fts5(
                        title, excerpt, body, related_text,
                        content="items", content_rowid="rowid", tokenize="porter unicode61");
                    INSERT INTO items_fts(items_fts) VALUES ('rebuild');
                    INSERT INTO items_fts(items_fts) VALUES ('optimize');
                """)
            conn.execute("ANALYZE")
        finally:
            conn.close()

    def open(self, db_path: str | Path) -> None:
        self.check_fts5()
        self.conn = sqlite3.connect(f"file:{Path(db_path)}?mode=ro", uri=True, check_same_thread=False)
        self.conn.execute("PRAGMA cache_size = -65536")  # 64 MB page cache

    @staticmethod
    def _matching(query: dict, match: str, need_items: bool) -> tuple[str, str, str, list]:
        """(rowid expression, FROM, WHERE, params): the matching items under the filters."""
        item_filter = query.get("provider") is not None or query.get("year") is not None
        if not match:
            rowid, source, where, params = "i.rowid", "items i", [], []
        elif need_items or item_filter:
            rowid, source = "items_fts.rowid", "items_fts CROSS JOIN items i ON i.rowid = items_fts.rowid"
            where, params = ["items_fts MATCH ?"], [match]
        else:
            rowid, source, where, params = "items_fts.rowid", "items_fts", ["items_fts MATCH ?"], [match]
        if query.get("topic") is not None:
            # Not `items_fts.rowid IN (...)`: FTS5 takes that as one MATCH per listed rowid (seconds).
            where.append(f"EXISTS (SELECT 1 FROM item_topics t WHERE t.item_rowid = {rowid} AND t.topic = ?)"
                         if match else "i.rowid IN (SELECT item_rowid FROM item_topics WHERE topic = ?)")
            params.append(query["topic"])
        if query.get("provider") is not None:
            where.append("i.provider = ?")
            params.append(query["provider"])
        if query.get("year") is not None:
            where.append("i.year = ?")
            params.append(int(query["year"]))
        return rowid, source, (" WHERE " + " AND ".join(where)) if where else "", params

    def search(self, query: dict) -> dict:
        match = quoted(query.get("q") or "")
        per_page, offset = _page(query)

        # Provider x year pairs (NULLs included) give total, provider and year in one pass.
        rowid, source, where, args = self._matching(query, match, need_items=True)
        sql = f"SELECT 'pair', i.provider, i.year, count(*) FROM {source}{where} GROUP BY i.provider, i.year"
        params = list(args)
        rowid, source, where, args = self._matching(query, match, need_items=False)
        sql += (f" UNION ALL SELECT 'topic', t.topic, NULL, count(*) FROM {source} "
                f"JOIN item_topics t ON t.item_rowid = {rowid}{where} GROUP BY t.topic")
        params += args
        total, provider, year, topic = 0, Counter(), Counter(), {}
        for kind, value, year_value, count in self.conn.execute(sql, params):
            if kind == "topic":
                topic[value] = count
                continue
            total += count
            if value is not None:
                provider[value] += count
            if year_value is not None:
                year[year_value] += count
        facets = {"topic": topic, "provider": provider, "year": year}

        newest = query.get("sort") == "newest" or not match
        rowid, source, where, args = self._matching(query, match, need_items=newest)
        order = f"i.published DESC, {rowid}" if newest else "bm25(items_fts, 3.0, 1.5, 1.0, 0.3)"
        page = [r[0] for r in self.conn.execute(
            f"SELECT {rowid} FROM {source}{where} ORDER BY {order} LIMIT ? OFFSET ?", args + [per_page, offset])]

        rows: dict[int, tuple[str, str]] = {}
        if page:
            marks = ",".join("?" * len(page))
            if match:
                rows = {r[0]: r[1:] for r in self.conn.execute(
                    f"SELECT items_fts.rowid, i.id, snippet(items_fts, -1, '<mark>', '</mark>', '…', "
                    f"{SNIPPET_WORDS}) FROM items_fts JOIN items i ON i.rowid = items_fts.rowid "
                    f"WHERE items_fts MATCH ? AND items_fts.rowid IN ({marks})", [match] + page)}
            else:
                rows = {r[0]: (r[1], _plain_snippet(r[2] or "")) for r in self.conn.execute(
                    f"SELECT rowid, id, excerpt FROM items WHERE rowid IN ({marks})", page)}
        return {
            "total": total,
            "ids": [rows[r][0] for r in page],
            "snippets": [rows[r][1] for r in page],
            "facets": {name: _top(counts) for name, counts in facets.items()},
        }

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


# ---------------------------------------------------------------- Tantivy

class TantivyPeer:
    """tantivy-py in-process (BM25 per field, summed with query-time boosts).

    Text is parsed by tantivy's query parser with conjunction_by_default and
    field_boosts 3/1.5/1/0.3: each clause must match in some field, scores are
    the boosted sum of per-field BM25 (not BM25F: no shared length
    normalization). Filters are zero-score Must clauses. Facets come from one
    `Searcher.aggregate` terms aggregation per facet over fast fields (exact
    counts: segment_size is raised so no segment truncates); that is a second
    pass over the matches, tantivy-py exposes no combined top-docs+aggregation
    collector. Newest = order_by_field="published" (desc, undated last; no
    score tie-break). Snippets: SnippetGenerator on excerpt, else title.
    en_stem has no stop words and does not fold diacritics."""

    name = "Tantivy"

    def __init__(self, index_dir: str | Path | None = None):
        self.index = self.searcher = None
        if index_dir is not None:
            self.open(index_dir)

    @staticmethod
    def schema():
        import tantivy

        builder = tantivy.SchemaBuilder()
        builder.add_text_field("id", stored=True, tokenizer_name="raw")
        for field in FIELDS:
            builder.add_text_field(field, stored=field in ("title", "excerpt"), tokenizer_name="en_stem")
        builder.add_text_field("topic", fast=True, tokenizer_name="raw")      # multi-valued
        builder.add_text_field("provider", fast=True, tokenizer_name="raw")
        builder.add_integer_field("year", indexed=True, fast=True)
        builder.add_date_field("published", fast=True)
        return builder.build()

    @classmethod
    def build(cls, items, index_dir: str | Path, heap_bytes: int = 256_000_000) -> None:
        import tantivy

        index_dir = Path(index_dir)
        index_dir.mkdir(parents=True, exist_ok=True)
        index = tantivy.Index(cls.schema(), path=str(index_dir), reuse=False)
        writer = index.writer(heap_size=heap_bytes)
        for it in items:
            doc = tantivy.Document()
            doc.add_text("id", it.id)
            for field in FIELDS:
                doc.add_text(field, getattr(it, field) or "")
            for topic in dict.fromkeys(it.topics):
                doc.add_text("topic", topic)
            if it.provider.name:
                doc.add_text("provider", it.provider.name)
            if it.published:
                doc.add_integer("year", it.published.year)
                doc.add_date("published", it.published)
            writer.add_document(doc)
        writer.commit()
        writer.wait_merging_threads()

    def open(self, index_dir: str | Path) -> None:
        import tantivy

        self._tantivy = tantivy
        self.index = tantivy.Index.open(str(index_dir))
        self.index.reload()
        self.searcher = self.index.searcher()
        self._schema = self.index.schema

    def _query(self, query: dict):
        t = self._tantivy
        text = quoted(query.get("q") or "")
        if text:
            main = self.index.parse_query(text, list(FIELDS), field_boosts=WEIGHTS, conjunction_by_default=True)
        else:
            main = t.Query.all_query()
        filters = [t.Query.term_query(self._schema, field, value if field != "year" else int(value))
                   for field in ("topic", "provider", "year") if (value := query.get(field)) is not None]
        if not filters:
            return main, bool(text)
        clauses = [(t.Occur.Must, main)] + [(t.Occur.Must, t.Query.const_score_query(f, 0.0)) for f in filters]
        return t.Query.boolean_query(clauses), bool(text)

    def search(self, query: dict) -> dict:
        t, searcher = self._tantivy, self.searcher
        q, has_text = self._query(query)
        per_page, offset = _page(query)
        if query.get("sort") == "newest" or not has_text:
            result = searcher.search(q, per_page, count=True, order_by_field="published", offset=offset,
                                     order=t.Order.Desc)
        else:
            result = searcher.search(q, per_page, count=True, offset=offset)
        terms = {"size": FACET_SIZE, "segment_size": 1_000_000}
        aggs = searcher.aggregate(q, {name: {"terms": {"field": name, **terms}}
                                      for name in ("topic", "provider", "year")})
        facets = {name: {bucket["key"]: bucket["doc_count"] for bucket in aggs.get(name, {}).get("buckets", [])}
                  for name in ("topic", "provider", "year")}
        facets["year"] = {int(k): v for k, v in facets["year"].items()}
        docs = [searcher.doc(address) for _, address in result.hits]
        return {
            "total": result.count,
            "ids": [doc["id"][0] for doc in docs],
            "snippets": self._snippets(q, docs) if has_text else
                        [_plain_snippet((doc.get_first("excerpt") or "")) for doc in docs],
            "facets": {name: _top(counts) for name, counts in facets.items()},
        }

    def _snippets(self, q, docs) -> list[str]:
        generators = {}

        def snippet(doc, field):
            if field not in generators:
                generators[field] = self._tantivy.SnippetGenerator.create(self.searcher, q, self._schema, field)
            found = generators[field].snippet_from_doc(doc)
            ranges = [(r.start, r.end) for r in found.highlighted()]
            if not ranges:
                return ""
            raw, out, at = found.fragment().encode("utf-8"), [], 0  # ranges are byte offsets
            for start, end in ranges:
                out.append(html.escape(raw[at:start].decode("utf-8", "replace")))
                out.append("<mark>" + html.escape(raw[start:end].decode("utf-8", "replace")) + "</mark>")
                at = end
            out.append(html.escape(raw[at:].decode("utf-8", "replace")))
            return "".join(out)

        return [snippet(doc, "excerpt") or snippet(doc, "title") or _plain_snippet(doc.get_first("excerpt") or "")
                for doc in docs]

    def close(self) -> None:
        self.index = self.searcher = None


# ---------------------------------------------------------------- Datasette

def stream_items(root: str | Path):
    """The merged items of a corpus folder, as `read_corpus` makes them, without
    holding them: records are merged as read (fields, no bodies), in
    read_corpus's order (by displayed path), then each item is made with its
    body read back from its file. A million items fit. A file read_corpus
    reports as a problem (unreadable, a link out of the folder) is left out."""
    from searchapp.ingest.reader import Merger, check_inside, display_path, list_news_files, parse_file

    root = Path(root)
    where = {display_path(path.relative_to(root).as_posix()): path for path in list_news_files(root)}
    merger = Merger(keep_bodies=False)
    for rel in sorted(where):   # merge_records' order
        try:
            check_inside(root, where[rel])
            merger.add(parse_file(where[rel], rel))
        except Exception:   # read_files reports every failure as a problem: a benchmark skips the file
            continue
    return merger.items(body=lambda rel: parse_file(where[rel], rel).own.body)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_datasette(db_path: str | Path, port: int | None = None, timeout: float = 60.0) -> subprocess.Popen:
    """`datasette serve` on the FTS5 file, immutable (no locking; the file does not
    change), with time limits raised so 300k-item counts and facets finish.
    Returns once it answers; `proc.base` is the database's URL."""
    db_path = Path(db_path)
    port = port or free_port()
    command = [
        sys.executable, "-m", "datasette", "serve", "-i", str(db_path), "--host", "127.0.0.1", "--port", str(port),
        "--setting", "sql_time_limit_ms", "10000",
        "--setting", "facet_time_limit_ms", "10000",
        "--setting", "suggest_facets", "off",
        "--setting", "default_facet_size", str(FACET_SIZE),
    ]
    log = tempfile.TemporaryFile()  # not a pipe: an unread pipe would fill and block the server
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=log)
    proc.base = f"http://127.0.0.1:{port}/{db_path.stem}"
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            log.seek(0)
            raise RuntimeError(f"datasette exited ({proc.returncode}): {log.read().decode()[-2000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/-/versions.json", timeout=2) as response:
                if response.status == 200:
                    return proc
        except OSError:
            pass
        if time.monotonic() > deadline:
            proc.terminate()
            raise RuntimeError(f"datasette did not answer on port {port} within {timeout:g} s")
        time.sleep(0.2)


def datasette_url(base: str, query: dict, fmt: str = ".json") -> str:
    """The faceted table-view search equivalent to `query` (`base` = the database URL).

    - `_search` with `_searchmode=raw` gets exactly Fts5Peer's MATCH expression
      (Datasette's default escaping would quote the same words anyway).
      Datasette finds items_fts because it was created with content="items".
    - Relevance: Datasette 0.65's table view does NOT order search results by
      rank: it filters `rowid IN (SELECT rowid FROM items_fts WHERE ... MATCH ...)`
      and orders by primary key; `_sort=rank` is refused (not a column). Ranked
      results need a custom SQL query (`ORDER BY rank`), which has no facets.
      So "relevance" queries come back in rowid order here.
    - Paging: the table view pages by keyset `_next` tokens, not offsets. This
      URL is always page 1; `datasette_check(..., follow_pages=True)` walks the
      `next_url` links to reach a later page (one request per page).
    - Only the columns a result list shows are returned (`_col`), not bodies.
    """
    params = [("_size", str(int(query.get("per_page") or PER_PAGE))),
              ("_facet", "provider"), ("_facet", "year"), ("_facet_array", "topics"),
              ("_facet_size", str(FACET_SIZE)), ("_nosuggest", "1")]
    params += [("_col", c) for c in ("id", "title", "excerpt", "url", "provider", "published", "topics")]
    match = quoted(query.get("q") or "")
    if match:
        params += [("_search", match), ("_searchmode", "raw")]
    if query.get("provider") is not None:
        params.append(("provider__exact", query["provider"]))
    if query.get("year") is not None:
        params.append(("year__exact", str(int(query["year"]))))
    if query.get("topic") is not None:
        params.append(("topics__arraycontains", query["topic"]))
    if query.get("sort") == "newest" or not match:
        params.append(("_sort_desc", "published"))
    return f"{base.rstrip('/')}/items{fmt}?{urllib.parse.urlencode(params)}"


def _get_json(url: str, timeout: float = 60.0) -> dict:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return json.loads(response.read())


def datasette_check(base: str, query: dict, follow_pages: bool = False) -> dict:
    """Fetch the faceted search as JSON: {"total", "ids", "snippets": [], "facets"}.

    total = filtered_table_rows_count; facets from facet_results. Without
    follow_pages the ids are page 1's (see datasette_url)."""
    data = _get_json(datasette_url(base, query))
    for _ in range(max(0, int(query.get("page") or 1) - 1) if follow_pages else 0):
        if not data.get("next_url"):
            data = {**data, "rows": []}
            break
        next_data = _get_json(data["next_url"].replace("/items?", "/items.json?", 1))
        data = {**next_data, "facet_results": data["facet_results"]}
    names = {"topics": "topic", "provider": "provider", "year": "year"}
    facets = {"topic": {}, "provider": {}, "year": {}}
    for key, result in (data.get("facet_results") or {}).items():
        name = names.get(result.get("name", key))
        if name:
            facets[name] = {r["value"]: r["count"] for r in result["results"] if r["value"] is not None}
    columns = data.get("columns") or []
    rows = [r if isinstance(r, dict) else dict(zip(columns, r)) for r in data.get("rows", [])]
    return {
        "total": data.get("filtered_table_rows_count"),
        "ids": [r["id"] for r in rows],
        "snippets": [],
        "facets": {name: _top(counts) for name, counts in facets.items()},
    }


class DatasettePeer:
    """Datasette over HTTP on the FTS5 file (see datasette_url for semantics)."""

    name = "Datasette"

    def __init__(self, db_path: str | Path, port: int | None = None, follow_pages: bool = False):
        self.proc = start_datasette(db_path, port)
        self.base = self.proc.base
        self.follow_pages = follow_pages

    def search(self, query: dict) -> dict:
        return datasette_check(self.base, query, self.follow_pages)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


# ---------------------------------------------------------------- naive Whoosh

def naive_build(items, index_dir: str | Path) -> None:
    """The baseline writer: our schema and documents (tags and story groups
    included, so both builds do the same work), Whoosh's default writer (one
    process, default memory, one segment), add_document per item, commit."""
    from whoosh import index as whoosh_index

    from searchapp.backends.whoosh.schema import item_document, make_schema
    from searchapp.indexing import story_groups

    index_dir = Path(index_dir)
    index_dir.mkdir(parents=True, exist_ok=True)
    ix = whoosh_index.create_in(str(index_dir), make_schema())
    stories = story_groups(items)
    writer = ix.writer()
    for it in items:
        writer.add_document(**item_document(it, stories[it.id]))
    writer.commit()


class NaiveWhooshPeer:
    """Whoosh as a first prototype would use it, on our schema.

    Per search: open the index and a fresh searcher, MultifieldParser over the
    four text fields with AndGroup (field weights come from the schema's
    field_boost, as in searchapp), search_page with groupedby facets
    (maptype=Count; topic with allow_overlap=True, needed for a multi-valued
    field), filter terms, sortedby newest_key for newest, hit.highlights on
    excerpt, close. No query relaxing, no spelling, no caching. `index_dir` is
    a searchapp index (CURRENT names a gen-* folder) or a plain Whoosh index
    (as naive_build writes)."""

    name = "Naive Whoosh"

    def __init__(self, index_dir: str | Path):
        self.index_dir = Path(index_dir)

    def _index_path(self) -> Path:
        current = self.index_dir / "CURRENT"
        if current.exists():
            return self.index_dir / current.read_text("utf-8").strip()
        return self.index_dir

    def search(self, query: dict) -> dict:
        from whoosh import highlight, index as whoosh_index, query as Q, sorting
        from whoosh.qparser import AndGroup, MultifieldParser

        ix = whoosh_index.open_dir(str(self._index_path()))
        searcher = ix.searcher()
        try:
            # Whoosh reads * and ? even inside quotes ("reg*" is a prefix query).
            text = " ".join('"' + re.sub(r"[*?]", " ", c) + '"' for c in clauses(query.get("q") or ""))
            parser = MultifieldParser(list(FIELDS), ix.schema, group=AndGroup)
            q = parser.parse(text) if text else Q.Every()
            terms = [Q.Term(field, str(query[key])) for key, field in
                     (("topic", "f_topic"), ("provider", "f_provider"), ("year", "f_year"))
                     if query.get(key) is not None]
            groupedby = {
                "topic": sorting.FieldFacet("f_topic", allow_overlap=True, maptype=sorting.Count),
                "provider": sorting.FieldFacet("f_provider", maptype=sorting.Count),
                "year": sorting.FieldFacet("f_year", maptype=sorting.Count),
            }
            newest = query.get("sort") == "newest" or not text
            per_page, _ = _page(query)
            page = max(1, int(query.get("page") or 1))
            results = searcher.search_page(q, page, pagelen=per_page, groupedby=groupedby,
                                           filter=Q.And(terms) if terms else None,
                                           sortedby="newest_key" if newest else None)
            results.results.formatter = highlight.HtmlFormatter(tagname="mark", between=" … ")
            hits = list(results) if results.pagenum == page else []  # Whoosh clamps to the last page
            facets = {name: {k: v for k, v in results.results.groups(name).items() if k is not None}
                      for name in groupedby}
            facets["year"] = {int(k): v for k, v in facets["year"].items()}
            ids = [hit["id"] for hit in hits]
            # An item without an excerpt has no stored excerpt: Whoosh raises rather than returning "".
            snippets = [(hit.highlights("excerpt") if hit.get("excerpt") else "") or _plain_snippet(hit.get("excerpt", ""))
                        for hit in hits]
            return {"total": results.total, "ids": ids, "snippets": snippets,
                    "facets": {name: _top(counts) for name, counts in facets.items()}}
        finally:
            searcher.close()
            ix.close()

    def close(self) -> None:
        pass


# ---------------------------------------------------------------- self-check

def _self_check(corpus_dir: str = "/work/shared/corpus") -> None:
    from searchapp.ingest.reader import read_corpus

    started = time.perf_counter()
    items = read_corpus(corpus_dir).items
    print(f"{len(items)} items read in {time.perf_counter() - started:.1f} s")
    base = {"topic": None, "provider": None, "year": None, "sort": "relevance", "page": 1, "per_page": 10}
    queries = [
        {**base, "q": "microsoft"},
        {**base, "q": "power apps"},
        {**base, "q": '"facial recognition" china'},
        {**base, "q": "recognition", "topic": "AI"},
        {**base, "q": "police ban", "sort": "newest"},
        {**base, "q": "data", "page": 2},
        {**base, "q": 'Amazon’s "facial (recognition)" -- * \\'},  # odd syntax must not fail
        {**base, "q": "copilot", "provider": "Microsoft", "year": 2024},
    ]
    with tempfile.TemporaryDirectory(prefix="peers-") as tmp:
        tmp = Path(tmp)
        builds = {}
        for name, build, target in (("SQLite FTS5", Fts5Peer.build, tmp / "bench.db"),
                                    ("Tantivy", TantivyPeer.build, tmp / "tantivy"),
                                    ("Naive Whoosh", naive_build, tmp / "whoosh")):
            t0 = time.perf_counter()
            build(items, target)
            builds[name] = time.perf_counter() - t0
        print("build: " + ", ".join(f"{n} {s:.2f} s" for n, s in builds.items()))

        peers = [Fts5Peer(tmp / "bench.db"), TantivyPeer(tmp / "tantivy"), DatasettePeer(tmp / "bench.db"),
                 NaiveWhooshPeer(tmp / "whoosh")]
        try:
            print(f"datasette at {peers[2].base}")
            names = [p.name for p in peers]
            print(f"\n{'query':48} " + " ".join(f"{n:>13}" for n in names))
            timings = {n: [] for n in names}
            answers = []
            for query in queries:
                row = []
                for peer in peers:
                    peer.search(query)  # warm
                    t0 = time.perf_counter()
                    runs = 3
                    for _ in range(runs):
                        answer = peer.search(query)
                    timings[peer.name].append((time.perf_counter() - t0) / runs * 1000)
                    row.append(answer)
                answers.append(row)
                label = query["q"] + "".join(f" {k}={query[k]}" for k in ("topic", "provider", "year") if query[k])
                label += (" newest" if query["sort"] == "newest" else "") + (f" p{query['page']}" if query["page"] > 1 else "")
                print(f"{label[:48]:48} " + " ".join(f"{a['total']:>13}" for a in row))
            print(f"\n{'mean ms per search':48} " + " ".join(f"{sum(t) / len(t):>13.2f}" for t in timings.values()))

            print("\nsample answers (query 4, 'recognition' topic=AI):")
            for peer, answer in zip(peers, answers[3]):
                print(f"  {peer.name}: ids {answer['ids'][:3]} facets "
                      + ", ".join(f"{f}: {dict(list(v.items())[:3])}" for f, v in answer["facets"].items()))
                if answer["snippets"]:
                    print(f"    snippet: {answer['snippets'][0][:160]}")
            fts, _, ds, _ = answers[4]
            print(f"\nnewest 'police ban': FTS5 and Datasette page-1 ids equal: {fts['ids'] == ds['ids']}"
                  " (Datasette answers page 1 for 'data p2', in rowid order for relevance)")
            same_facets = all(a[0]["facets"] == a[2]["facets"] for a in answers)
            print(f"FTS5 and Datasette facets equal on all queries: {same_facets}")
        finally:
            for peer in peers:
                peer.close()


if __name__ == "__main__":
    _self_check(*sys.argv[1:2])
