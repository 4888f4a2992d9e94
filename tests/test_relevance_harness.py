"""The relevance harness (bench/relevance.py) runs in the suite, so it cannot
rot: its metrics equal hand-computed values, its FTS5 baseline and searchapp
adapter rank what they should, and a run on a few real queries scores both
systems on every requested query."""

from __future__ import annotations

import json
import math
import re
import sys
from types import SimpleNamespace

import pytest

from conftest import PROJECT, SHARED_CORPUS

sys.path.insert(0, str(PROJECT / "bench"))

import relevance  # noqa: E402

GRADES = {"a": 2, "b": 1, "c": 0}


# -- metrics, by hand


def test_ndcg_is_one_for_the_ideal_order_and_lower_reversed():
    assert relevance.ndcg_at(["a", "b", "c"], GRADES) == pytest.approx(1.0)
    reversed_ = relevance.ndcg_at(["c", "b", "a"], GRADES)
    # DCG = 0/log2(2) + 1/log2(3) + 2/log2(4); ideal = 2/log2(2) + 1/log2(3)
    assert reversed_ == pytest.approx((1 / math.log2(3) + 1) / (2 + 1 / math.log2(3)))
    assert reversed_ < 0.7


def test_ndcg_ideal_comes_from_all_judged_grades_not_from_the_ranking():
    # Only 'b' retrieved: the ideal still counts 'a' (grade 2), judged but not found.
    assert relevance.ndcg_at(["b"], GRADES) == pytest.approx(1 / (2 + 1 / math.log2(3)))
    # Unjudged items are grade 0; a query with nothing relevant has no nDCG.
    assert relevance.ndcg_at(["x", "y"], GRADES) == 0.0
    assert relevance.ndcg_at(["a"], {"a": 0, "b": 0}) is None


def test_ndcg_looks_at_ten_places_only():
    grades = {f"u{i}": 1 for i in range(12)}
    ranking = [f"n{i}" for i in range(10)] + ["u0", "u1"]
    assert relevance.ndcg_at(ranking, grades) == 0.0


def test_each_story_once_neither_costs_a_grouped_list_places_nor_fills_an_ungrouped_one():
    grades = {"a1": 2, "a2": 2, "b": 1, "c": 0}
    story_of = {"a1": "A", "a2": "A", "b": "B", "c": "C"}
    # one row for story A, then B: the ideal of stories (A=2, B=1), so perfect
    grouped = relevance.score_ranking(["a1", "b"], grades, story_of)
    assert grouped["ndcg10_stories"] == pytest.approx(1.0) and grouped["ndcg10"] < 1.0
    # A's copy listed again adds nothing and takes no place from B's turn: B still counts at place 2
    ungrouped = relevance.score_ranking(["a1", "a2", "b"], grades, story_of)
    assert ungrouped["ndcg10_stories"] == pytest.approx(1.0) and ungrouped["ndcg10"] == pytest.approx(1.0)
    worse = relevance.score_ranking(["c", "a2", "b"], grades, story_of)
    assert worse["ndcg10_stories"] == pytest.approx((2 / math.log2(3) + 1 / 2) / (2 + 1 / math.log2(3)))


def test_reciprocal_rank_precision_and_pool_coverage_on_a_tiny_case():
    ranking = ["x", "c", "b", "a"]            # x unjudged
    scores = relevance.score_ranking(ranking, GRADES)
    assert scores["mrr"] == pytest.approx(1 / 3)   # first grade >= 1 is 'b', third
    assert scores["mrr2"] == pytest.approx(1 / 4)  # first grade 2 is 'a', fourth
    assert scores["p5"] == pytest.approx(2 / 5)    # a short list: empty places are misses
    assert (scores["unjudged10"], scores["listed10"]) == (1, 4)
    assert relevance.rr_at(["c", "x"], GRADES) == 0.0


def test_summary_means_leave_queries_without_a_relevant_item_out_of_ndcg_only():
    rows = [relevance.score_ranking(["a", "b"], GRADES), relevance.score_ranking(["z"], {"z": 0})]
    summary = relevance.summarize(rows)
    assert summary["ndcg_queries"] == 1
    assert summary["ndcg10"] == pytest.approx(1.0)
    assert summary["mrr"] == pytest.approx(0.5)    # the second query counts, with 0
    assert summary["unjudged10"] == 0.0


# -- inputs


def test_grade_files_merge_and_a_missing_one_is_skipped(tmp_path):
    (tmp_path / "grades-tune.json").write_text(json.dumps({"version": 1, "grades": {"q01": {"u": 2}}}))
    grades, read = relevance.load_grades(tmp_path)
    assert read == ["grades-tune.json"] and grades == {"q01": {"u": 2}}
    (tmp_path / "grades-test.json").write_text(json.dumps({"version": 1, "grades": {"q02": {"v": 1}}}))
    grades, read = relevance.load_grades(tmp_path)
    assert read == ["grades-tune.json", "grades-test.json"] and set(grades) == {"q01", "q02"}


def test_committed_grades_belong_to_their_half_and_use_the_scale():
    queries = {q["id"]: q for q in relevance.load_queries()}
    assert len(queries) == len(relevance.load_queries()), "query ids are unique across the query files"
    for split in relevance.HALVES:
        name = f"grades-{split}.json"
        path = relevance.JUDGMENTS / name
        if not path.is_file():
            continue
        grades = json.loads(path.read_text(encoding="utf-8"))["grades"]
        assert {queries[qid]["split"] for qid in grades} == {split}, name
        assert all(g in (0, 1, 2) for by_url in grades.values() for g in by_url.values()), name


def test_query_selection_by_split_and_ids():
    queries = relevance.load_queries()
    tune = relevance.select_queries(queries, "tune")
    assert tune and all(q["split"] == "tune" for q in tune)
    assert [q["id"] for q in relevance.select_queries(queries, "both", ["q01", "q02"])] == ["q01", "q02"]
    with pytest.raises(SystemExit):
        relevance.select_queries(queries, "both", ["q999"])


def test_a_split_and_ids_that_select_no_query_stop_before_building(tmp_path):
    # "--split tune2 --queries q01" (q01 is a tune query) built the whole index, then printed empty tables
    with pytest.raises(SystemExit, match="no query of half tune2 among q01"):
        relevance.main(["--corpus-root", str(tmp_path / "absent"), "--split", "tune2", "--queries", "q01"])


# -- the two systems' adapters


def test_fts5_query_is_an_or_of_quoted_words_with_a_prefix_when_typed():
    assert relevance.fts5_match("self-driving car") == '"self-driving" OR "car"'
    assert relevance.fts5_match('autonomous "vehic', typed=True) == '"autonomous" OR "vehic"*'
    assert relevance.fts5_match("a b", op="AND") == '"a" AND "b"'
    assert relevance.fts5_match(" - ? ") is None


def test_fts5_baseline_weighs_title_above_excerpt():
    items = [
        SimpleNamespace(url="u-excerpt", title="Other news", excerpt="deepfake deepfake rules"),
        SimpleNamespace(url="u-title", title="Deepfake rules", excerpt="Other news"),
        SimpleNamespace(url="u-none", title="Cruise permits", excerpt="California DMV"),
    ]
    conn = relevance.build_fts5(items)
    assert relevance.fts5_ranking(conn, "deepfake") == ["u-title", "u-excerpt"]
    assert relevance.fts5_ranking(conn, "deepfak", typed=True)[:1] == ["u-title"]
    assert relevance.fts5_ranking(conn, "cruise OR nothing") == ["u-none"]   # OR of words: 'OR' is a word too


def test_searchapp_adapter_passes_typed_and_lists_one_row_per_result():
    calls = []

    class Engine:
        def search(self, query, filters=None, sort="relevance", page=1, per_page=10, typed=False):
            calls.append((query, sort, per_page, typed))
            copy = SimpleNamespace(url="copy")
            return SimpleNamespace(hits=(SimpleNamespace(url="one", also_reported_by=(copy,)),
                                         SimpleNamespace(url="two", also_reported_by=())))

    assert relevance.searchapp_ranking(Engine(), "facial recognit", True) == ["one", "two"]
    assert calls == [("facial recognit", "relevance", relevance.DEPTH, True)]
    assert relevance.searchapp_ranking(Engine(), "q", False, copies=True) == ["one", "copy", "two"]


# -- a real run on a few queries


def test_run_on_three_real_queries_scores_both_systems(tmp_path, capsys):
    if not all((SHARED_CORPUS / name).is_dir() for name in relevance.CORPUS_FOLDERS):
        pytest.skip(f"the shared real-news corpus (regulation-news/, seeds/) is not at {SHARED_CORPUS}")
    grades, _ = relevance.load_grades()
    wanted = ["q01", "q51", "q62"]           # entity, short, typed prefix (all tune)
    if not all(qid in grades for qid in wanted):
        pytest.skip("grades-tune.json does not judge the sample queries")
    out = tmp_path / "run.json"
    assert relevance.main(["--corpus-root", str(SHARED_CORPUS), "--queries", ",".join(wanted),
                           "--json", str(out)]) == 0
    result = json.loads(out.read_text(encoding="utf-8"))
    assert [r["id"] for r in result["queries"]] == wanted
    assert result["items"] > 500
    for row in result["queries"]:
        for system in ("searchapp", "fts5"):
            scores = row["scores"][system]
            assert row["rankings"][system], (row["id"], system)
            for key in ("ndcg10", "mrr", "mrr2", "p5"):
                assert 0.0 <= scores[key] <= 1.0, (row["id"], system, key)
    # The one-event entity query is easy for both: its judged story leads.
    q01 = result["queries"][0]["scores"]
    assert q01["searchapp"]["ndcg10"] > 0.8 and q01["fts5"]["ndcg10"] > 0.8
    assert set(result["summary"]) == {"tune"}
    printed = capsys.readouterr().out
    assert "| q62 | autonomous vehic (typed) | prefix | tune |" in printed
    assert "FTS5 bm25 baseline" in printed


# -- bench/ab.py: latency of two checkouts over one index

def test_ab_compares_two_checkouts_over_one_index(tmp_path, sample_index, capsys):
    """One round of the A/B latency script, the project against itself: every
    search runs in both, and the table gives a ratio per percentile."""
    import ab

    queries = tmp_path / "queries.json"
    queries.write_text(json.dumps({"queries": [{"query": "facial recognition"}, {"query": "ai act", "typed": True}]}))
    work = ab.workload(queries)
    assert ("facial recognition", False) in work and ("fa", True) in work and ("facial recognition", True) in work
    assert ab.main(["--index", str(sample_index), "--before", str(PROJECT), "--after", str(PROJECT),
                    "--rounds", "1", "--queries", str(queries)]) == 0
    out = capsys.readouterr().out
    assert f"{len(work)} searches per round" in out
    assert re.search(r"\| p95 \| [\d,.]+ \| [\d,.]+ \| \d+\.\d\d \|", out)
