"""Relevance of searchapp's ranking against a plain SQLite FTS5 baseline.

    python bench/relevance.py [--corpus-root ../shared/corpus] [--split tune|test|tune2|test2|tune3|test3|tune4|test4|both]
                              [--queries q01,q05] [--json out.json]

Copies the real news (`regulation-news/` and `seeds/` of the corpus root) to a
temporary folder, builds a searchapp index there with the production build
path, builds an FTS5 baseline over the same items (the same reader output),
runs the queries of `bench/judgments/queries.json` (64 queries, halves `tune`
and `test`), `queries2.json` (32 more written in round 7, halves `tune2`
and `test2`) `queries3.json` (32 more written in round 15, halves `tune3`
and `test3`) and `queries4.json` (32 more written in round 22, halves `tune4` and
`test4`) through both and scores them against the graded judgments
(`grades-<half>.json`, whichever exist).

Metrics, per system, averaged over the queries of each half:
- nDCG@10: gain = grade (0/1/2), discount log2(rank + 1), the ideal DCG from
  all judged grades of the query; queries without any item graded >= 1 have
  no nDCG and are left out of the mean (and said so);
- MRR@10: 1 / rank of the first item graded >= 1 in the top 10 (0 if none);
  MRR2@10 the same for the first item graded 2;
- P@5: share of the top 5 graded >= 1 (a shorter list counts its empty places
  as misses).
Unjudged items count as grade 0; the share of unjudged items in each system's
top 10 (pool coverage) is printed so that a low figure can be told apart from
a pool that misses what a system finds.

Baseline: FTS5 (porter unicode61), `bm25(fts, 3.0, 1.0)` over title and
excerpt, the query's words joined by OR (a hyphenated word is an FTS5 phrase
of its parts); for typed (as-you-type) queries the last word is a prefix
(`"vehic"*`), which is what a plain FTS5 box would do.

searchapp: one row per result as a user sees it (a story's other copies,
`also_reported_by`, are shown under their result, not as rows; the judged
pools hold those copies too, so the ideal ranking counts them: a grouped
story costs searchapp places the baseline fills with copies.
`--copies-as-rows` lists each result's copies after it, for comparison);
prefix queries are sent as typed (`typed=True` when the search API accepts
such a keyword).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import shutil
import sqlite3
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
PROJECT = HERE.parent
JUDGMENTS = HERE / "judgments"
GRADE_FILES = ("grades-tune.json", "grades-test.json", "grades-tune2.json", "grades-test2.json",
               "grades-tune3.json", "grades-test3.json", "grades-tune4.json", "grades-test4.json")
# round 7 added a second set, split tune2 / test2; round 15 a third, tune3 / test3; round 22 a fourth
QUERY_FILES = ("queries.json", "queries2.json", "queries3.json", "queries4.json")
HALVES = ("tune", "test", "tune2", "test2", "tune3", "test3", "tune4", "test4")
CORPUS_FOLDERS = ("regulation-news", "seeds")
DEFAULT_CORPUS_ROOT = Path(os.environ.get("SEARCHAPP_SHARED", PROJECT.parent / "shared")) / "corpus"
K = 10
DEPTH = 20          # results asked of each system (metrics look at the top 10)

if str(PROJECT) not in sys.path:   # `python bench/relevance.py` from anywhere
    sys.path.insert(0, str(PROJECT))


# -- the searchapp API

def read_items(corpus_dir: Path) -> list:
    from searchapp.ingest.reader import read_corpus

    return list(read_corpus(corpus_dir).items)


def build_searchapp(corpus_dir: Path, index_dir: Path):
    """Build with the production path and return a search engine over the index."""
    from searchapp.core.service import SearchEngine
    from searchapp.indexing import update_index

    update_index(corpus_dir, index_dir, full=True)
    return SearchEngine(index_dir)


def searchapp_ranking(engine, query: str, typed: bool, depth: int = DEPTH, *, copies: bool = False) -> list[str]:
    """The URLs of searchapp's results for a query, best first, one per row a
    user sees (`copies=True`: each result followed by its story's other
    copies, `also_reported_by`, as if they were rows too). The only place
    that calls the search API."""
    page = engine.search(query, sort="relevance", per_page=depth, typed=typed)
    urls = []
    for hit in page.hits:
        urls.append(hit.url)
        if copies:
            urls += [report.url for report in hit.also_reported_by]
    return _unique(urls)[:depth]


# -- the FTS5 baseline

def build_fts5(items, path: str = ":memory:") -> sqlite3.Connection:
    conn = sqlite3.connect(path)
    conn.execute('CREATE VIRTUAL TABLE fts USING fts5(title, excerpt, url UNINDEXED, tokenize="porter unicode61")')
    conn.executemany("INSERT INTO fts (title, excerpt, url) VALUES (?, ?, ?)",
                     ((item.title or "", item.excerpt or "", item.url) for item in items))
    conn.commit()
    return conn


_HAS_WORD = re.compile(r"[^\W_]")


def fts5_match(query: str, typed: bool = False, op: str = "OR") -> str | None:
    """The query's words, each an FTS5 string, joined by `op`; None if no word."""
    words = [w.replace('"', "") for w in query.split()]
    words = [w for w in words if _HAS_WORD.search(w)]
    if not words:
        return None
    parts = ['"' + w + '"' for w in words]
    if typed:
        parts[-1] += "*"
    return f" {op} ".join(parts)


def fts5_ranking(conn: sqlite3.Connection, query: str, typed: bool = False, depth: int = DEPTH) -> list[str]:
    match = fts5_match(query, typed)
    if match is None:
        return []
    rows = conn.execute("SELECT url FROM fts WHERE fts MATCH ? ORDER BY bm25(fts, 3.0, 1.0), rowid LIMIT ?",
                        (match, depth)).fetchall()
    return _unique(url for (url,) in rows)


def _unique(urls) -> list[str]:
    seen, out = set(), []
    for url in urls:
        if url not in seen:
            seen.add(url)
            out.append(url)
    return out


# -- metrics

def dcg(gains) -> float:
    return sum(g / math.log2(i + 2) for i, g in enumerate(gains))


def ndcg_at(ranking: list[str], grades: dict[str, int], k: int = K) -> float | None:
    """nDCG@k, or None when the query has no item graded above 0."""
    ideal = dcg(sorted(grades.values(), reverse=True)[:k])
    if ideal <= 0:
        return None
    return dcg(grades.get(url, 0) for url in ranking[:k]) / ideal


def rr_at(ranking: list[str], grades: dict[str, int], k: int = K, threshold: int = 1) -> float:
    for i, url in enumerate(ranking[:k]):
        if grades.get(url, 0) >= threshold:
            return 1.0 / (i + 1)
    return 0.0


def precision_at(ranking: list[str], grades: dict[str, int], k: int = 5) -> float:
    return sum(1 for url in ranking[:k] if grades.get(url, 0) >= 1) / k


def unjudged_at(ranking: list[str], grades: dict[str, int], k: int = K) -> tuple[int, int]:
    """(unjudged, listed) in the top k."""
    top = ranking[:k]
    return sum(1 for url in top if url not in grades), len(top)


def by_story(ranking: list[str], grades: dict[str, int], story_of: dict[str, str]) -> tuple[list[str], dict[str, int]]:
    """The ranking with each story once (its first row), and the grades per story (the best
    grade of its copies), keyed by story: what a list that groups copies can be judged on.
    The same for every system, so copies neither cost a grouped list places nor fill an
    ungrouped one's."""
    story_grades: dict[str, int] = {}
    for url, grade in grades.items():
        story = story_of.get(url, url)
        story_grades[story] = max(grade, story_grades.get(story, 0))
    return _unique(story_of.get(url, url) for url in ranking), story_grades


def score_ranking(ranking: list[str], grades: dict[str, int], story_of: dict[str, str] | None = None) -> dict:
    unjudged, listed = unjudged_at(ranking, grades)
    stories = ndcg_at(*by_story(ranking, grades, story_of)) if story_of is not None else None
    return {
        "ndcg10": ndcg_at(ranking, grades),
        "ndcg10_stories": stories,
        "mrr": rr_at(ranking, grades),
        "mrr2": rr_at(ranking, grades, threshold=2),
        "p5": precision_at(ranking, grades),
        "unjudged10": unjudged,
        "listed10": listed,
    }


def summarize(rows: list[dict]) -> dict:
    """Means over queries (nDCG over the queries that have a relevant item)."""
    def mean(values):
        values = [v for v in values if v is not None]
        return sum(values) / len(values) if values else None
    listed = sum(r["listed10"] for r in rows)
    return {
        "queries": len(rows),
        "ndcg10": mean(r["ndcg10"] for r in rows),
        "ndcg10_stories": mean(r.get("ndcg10_stories") for r in rows),
        "ndcg_queries": sum(1 for r in rows if r["ndcg10"] is not None),
        "mrr": mean(r["mrr"] for r in rows),
        "mrr2": mean(r["mrr2"] for r in rows),
        "p5": mean(r["p5"] for r in rows),
        "unjudged10": sum(r["unjudged10"] for r in rows) / listed if listed else 0.0,
    }


# -- inputs

def load_queries(path: Path | None = None) -> list[dict]:
    """The queries of `path`, or of every query file that exists."""
    paths = [Path(path)] if path else [JUDGMENTS / name for name in QUERY_FILES if (JUDGMENTS / name).is_file()]
    return [q for p in paths for q in json.loads(p.read_text(encoding="utf-8"))["queries"]]


def load_grades(folder: Path = JUDGMENTS) -> tuple[dict[str, dict[str, int]], list[str]]:
    """All query grades from the grade files that exist, and the files read."""
    grades, read = {}, []
    for name in GRADE_FILES:
        path = Path(folder) / name
        if not path.is_file():
            continue
        data = json.loads(path.read_text(encoding="utf-8"))
        for qid, by_url in data.get("grades", {}).items():
            grades.setdefault(qid, {}).update({url: int(g) for url, g in by_url.items()})
        read.append(name)
    return grades, read


def select_queries(queries: list[dict], split: str = "both", ids: list[str] | None = None) -> list[dict]:
    chosen = [q for q in queries if split == "both" or q["split"] == split]
    if ids:
        wanted = set(ids)
        unknown = wanted - {q["id"] for q in queries}
        if unknown:
            raise SystemExit(f"unknown query ids: {', '.join(sorted(unknown))}")
        chosen = [q for q in chosen if q["id"] in wanted]
    return chosen


def stories_by_url(items) -> dict[str, str]:
    """url -> story id, from the same story grouping the index uses."""
    from searchapp.enrich.stories import story_groups

    groups = story_groups(items)
    return {item.url: groups[item.id] for item in items}


def copy_corpus(corpus_root: Path, dest: Path) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    for name in CORPUS_FOLDERS:
        source = Path(corpus_root) / name
        if not source.is_dir():
            raise SystemExit(f"corpus folder not found: {source}")
        shutil.copytree(source, dest / name)
    return dest


# -- the run

def run(corpus_root: Path, queries: list[dict], grades: dict[str, dict[str, int]], workdir: Path,
        *, copies: bool = False) -> dict:
    """Build both systems in `workdir`, run the queries and score them."""
    corpus_dir = copy_corpus(corpus_root, Path(workdir) / "corpus")
    items = read_items(corpus_dir)
    engine = build_searchapp(corpus_dir, Path(workdir) / "index")
    conn = build_fts5(items)
    story_of = stories_by_url(items)
    try:
        per_query = []
        for q in queries:
            qgrades = grades.get(q["id"], {})
            rankings = {
                "searchapp": searchapp_ranking(engine, q["query"], bool(q.get("typed")), copies=copies),
                "fts5": fts5_ranking(conn, q["query"], bool(q.get("typed"))),
            }
            per_query.append({
                **{key: q[key] for key in ("id", "query", "class", "split")},
                "typed": bool(q.get("typed")),
                "judged": len(qgrades),
                "relevant": sum(1 for g in qgrades.values() if g >= 1),
                "rankings": rankings,
                "scores": {system: score_ranking(r, qgrades, story_of) for system, r in rankings.items()},
            })
    finally:
        conn.close()
        close = getattr(engine, "close", None)
        if callable(close):
            close()
    summary = {}
    for half in HALVES:
        rows = [r for r in per_query if r["split"] == half]
        if rows:
            summary[half] = {system: summarize([r["scores"][system] for r in rows]) for system in ("searchapp", "fts5")}
    return {"items": len(items), "copies_as_rows": copies, "queries": per_query, "summary": summary}


def _fmt(value, digits: int = 3) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def report(result: dict, grade_files: list[str]) -> str:
    rows = "each result and its also_reported_by copies as rows" if result.get("copies_as_rows") else "one row per result"
    lines = [f"{result['items']} items; grades from {', '.join(grade_files) or 'no grade file'}; searchapp: {rows}", ""]
    names = {"searchapp": "searchapp", "fts5": "FTS5 bm25 baseline"}
    for half, systems in result["summary"].items():
        any_system = next(iter(systems.values()))
        lines.append(f"### {half} half: {any_system['queries']} queries "
                     f"(nDCG over the {any_system['ndcg_queries']} with a relevant item)")
        lines.append("")
        lines.append("| system | nDCG@10 | nDCG@10, each story once | MRR@10 | MRR2@10 (first grade 2) | P@5 "
                     "| unjudged in top 10 |")
        lines.append("|---|---|---|---|---|---|---|")
        for system, s in systems.items():
            lines.append(f"| {names[system]} | {_fmt(s['ndcg10'])} | {_fmt(s.get('ndcg10_stories'))} | {_fmt(s['mrr'])} "
                         f"| {_fmt(s['mrr2'])} | {_fmt(s['p5'])} | {s['unjudged10']:.1%} |")
        lines.append("")
    lines.append("| id | query | class | split | searchapp nDCG@10 | baseline nDCG@10 |")
    lines.append("|---|---|---|---|---|---|")
    for r in result["queries"]:
        query = r["query"].replace("|", "\\|") + (" (typed)" if r["typed"] else "")
        ours, base = r["scores"]["searchapp"]["ndcg10"], r["scores"]["fts5"]["ndcg10"]
        if r["judged"] == 0:
            ours_s = base_s = "not judged"
        elif ours is None:
            ours_s = base_s = "no relevant item"
        else:
            ours_s, base_s = _fmt(ours), _fmt(base)
        lines.append(f"| {r['id']} | {query} | {r['class']} | {r['split']} | {ours_s} | {base_s} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus-root", type=Path, default=DEFAULT_CORPUS_ROOT,
                        help="folder holding regulation-news/ and seeds/ (default: %(default)s)")
    parser.add_argument("--split", choices=(*HALVES, "both"), default="both",
                        help="one half, or both (= every half that exists)")
    parser.add_argument("--queries", default="", help="comma-separated query ids (default: all of the split)")
    parser.add_argument("--json", type=Path, help="also write the rankings and scores here")
    parser.add_argument("--copies-as-rows", action="store_true",
                        help="count each searchapp result's also_reported_by copies as rows after it (default: one row per result)")
    args = parser.parse_args(argv)

    grades, grade_files = load_grades()
    ids = [q.strip() for q in args.queries.split(",") if q.strip()]
    queries = select_queries(load_queries(), args.split, ids)
    if not queries:   # before building anything: an empty report after a full build says nothing
        raise SystemExit(f"no query of half {args.split}" + (f" among {', '.join(ids)}" if ids else ""))
    missing = [q["id"] for q in queries if q["id"] not in grades]
    if missing:
        print(f"not judged yet (scored as all grade 0, left out of nDCG): {', '.join(missing)}", file=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="relevance-") as tmp:
        result = run(args.corpus_root, queries, grades, Path(tmp), copies=args.copies_as_rows)
    print(report(result, grade_files))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
