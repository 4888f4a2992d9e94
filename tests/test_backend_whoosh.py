"""The Whoosh backend's own guarantees: its compiler reads queries exactly as
Whoosh's parser did, its cached word scores are Whoosh's BM25F, its private
dependencies are checked, and nothing above it imports whoosh."""

from __future__ import annotations

import ast as pyast
import random
from pathlib import Path

import pytest
from whoosh.fields import Schema
from whoosh.qparser import AndGroup, MultifieldParser, plugins

from searchapp.backends.whoosh import compat
from searchapp.backends.whoosh.compile import compile_query
from searchapp.backends.whoosh.schema import TEXT_FIELDS, make_schema
from searchapp.query.expand import prune
from searchapp.query.parser import parse
from searchapp.query.syntax import FIELDS, normalize_query

PROJECT = Path(__file__).resolve().parents[1]


def _whoosh_parser():
    schema = make_schema()
    parser = MultifieldParser(list(TEXT_FIELDS), schema=Schema(**{n: schema[n] for n in FIELDS}), group=AndGroup)
    for plugin in (plugins.SingleQuotePlugin, plugins.EveryPlugin, plugins.RangePlugin, plugins.BoostPlugin):
        parser.remove_plugin_class(plugin)
    return parser


def _queries():
    hand = ['facial recognition', 'the ai act', '"facial recognition" ban', 'gdpr OR ccpa', 'meta -fine',
            'ai -(china OR eu)', 'title:china', 'provider:techcrunch', 'topic:"computer vision"', 'regul*',
            'china AND "facial recognition"', "china's rules", 'face-recognition', 'U.S. ban', '(gdpr OR ccpa) fine',
            'china AND fine OR ban', 'china OR fine AND ban', 'NOT china fine', 'china NOT fine OR ban',
            'title:(china fine)', 'china (fine ban)', 'china ANDNOT fine', 'china ANDMAYBE fine', 'police police',
            '"the ai act"', 'excerpt:china', '3.5 billion', 'title:regul*', 'café', '-eu china -eu meta']
    rng = random.Random(3)
    vocabulary = "china facial recognition ban fine meta police clearview eu lawsuit privacy data the of".split()
    for _ in range(300):
        parts = []
        for i in range(rng.randint(1, 5)):
            word = rng.choice(vocabulary)
            if rng.random() < 0.15:
                word = f'"{word} {rng.choice(vocabulary)}"'
            operator = rng.choice(["", "", "", "OR", "AND", "NOT", "-"]) if i else rng.choice(["", "", "NOT"])
            parts.append(f"-{word}" if operator == "-" else f"{operator} {word}".strip())
        hand.append(" ".join(parts))
    return hand


def test_our_parser_compiles_to_what_whoosh_parsed():
    """Ranks did not move when the parser became ours: for queries without
    synonyms, the compiled query equals Whoosh's MultifieldParser output."""
    from searchapp.backends.whoosh.compile import analyze

    parser, differ = _whoosh_parser(), []
    for text in _queries():
        try:
            theirs = parser.parse(normalize_query(text))
        except Exception:
            continue  # Whoosh's parser fails on some operator runs; ours says why (QueryError)
        ours = compile_query(prune(parse(text), analyze))
        if ours != theirs and not (repr(theirs) == "<_NullQuery>" and repr(ours) == "<_NullQuery>"):
            differ.append((text, theirs, ours))
    assert differ == []


@pytest.mark.parametrize("text", ["recognition ban", "police", "china consent rules", "fine OR court", "meta fine zebra"])
def test_cached_word_scores_are_whoosh_bm25f(sample_engine, text):
    """Bare words are ranked from cached per-word BM25F scores; the top must be
    Whoosh's own exact top (every match scored): same documents, same scores."""
    from searchapp.core.service import read_query
    from searchapp.query.expand import relax

    snapshot = sample_engine._snapshot()
    tree = read_query(text, snapshot.analyze)
    for query in {tree, relax(tree, snapshot.analyze) or tree}:
        bits = snapshot.matches(query)
        ours = snapshot.ranked(query, bits, 50, "relevance", False)
        whoosh = list(compat.exact_top(snapshot.searcher, compile_query(query), 50, None, None).top_n)
        assert len(ours) == len(whoosh) == min(50, bits.bit_count())
        # equal up to float rounding (Whoosh keeps some statistics in 32 bits)
        assert all(abs(a - b) <= 1e-6 * abs(b) for (a, _), (b, _) in zip(ours, whoosh))
        assert [d for _, d in ours] == [d for _, d in whoosh]


def test_compat_refuses_an_unverified_whoosh(monkeypatch):
    monkeypatch.setattr(compat, "_installed", lambda: "2.8.0")
    with pytest.raises(compat.WhooshIncompatible, match="verified with whoosh-reloaded 2.7.5; installed: 2.8.0"):
        compat.check()


def test_compat_checks_each_private_detail(monkeypatch):
    from whoosh import highlight

    monkeypatch.delattr(highlight.Formatter, "_text")
    with pytest.raises(compat.WhooshIncompatible, match="_text"):
        compat.check()


def test_nothing_above_the_backend_imports_whoosh():
    offenders = []
    for path in sorted((PROJECT / "searchapp").rglob("*.py")):
        if "backends" in path.relative_to(PROJECT / "searchapp").parts:
            continue
        for node in pyast.walk(pyast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, pyast.Import) else (
                [node.module or ""] if isinstance(node, pyast.ImportFrom) else [])
            if any(n == "whoosh" or n.startswith("whoosh.") for n in names):
                offenders.append(str(path.relative_to(PROJECT)))
    assert offenders == []


def test_stages_import_only_to_their_left():
    """ingest -> enrich -> index (store, backends, indexing) -> search (query, core) -> web / cli."""
    stage = {"model": 0, "errors": 0, "bitmaps": 0, "lru": 0, "processes": 0, "ingest": 1, "enrich": 2, "store": 3, "backends": 3,
             "indexing": 3, "query": 3, "core": 4, "web": 5, "cli": 5, "__main__": 6, "__init__": 0}
    wrong = []
    for path in sorted((PROJECT / "searchapp").rglob("*.py")):
        parts = path.relative_to(PROJECT / "searchapp").with_suffix("").parts
        mine = stage[parts[0]]
        for node in pyast.walk(pyast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, pyast.ImportFrom) and (node.module or "").startswith("searchapp."):
                theirs = stage[node.module.split(".")[1]]
                if theirs > mine:
                    wrong.append(f"{'/'.join(parts)} imports {node.module}")
    assert wrong == []


# ---------------------------------------------------------------- the trial open (is a generation usable?)

def _two_segment_index(tmp_path):
    """A small index of two segments (an incremental addition on top of hard links)."""
    from conftest import write_news
    from searchapp.indexing import update_index

    corpus, index_dir = tmp_path / "corpus", tmp_path / "index"
    for n in range(40):
        write_news(corpus, f"{n}.md", title=f"Regulator {n} fines company over facial data {n * 7}",
                   body=" ".join(f"word{(n * k) % 97} privacy ruling" for k in range(60)),
                   publishedDateTime=f"2023-0{1 + n % 9}-1{n % 10}T10:00:00Z", topics=["AI", f"T{n % 5}"])
    update_index(corpus, index_dir)
    for n in range(40, 46):   # named to sort after the others: appended as a segment (else all are rewritten)
        write_news(corpus, f"z{n}.md", title=f"Added later {n}: court blocks ban", body="court " * 30)
    assert update_index(corpus, index_dir).mode == "incremental"
    from searchapp.store.generations import current_generation

    generation = current_generation(index_dir)
    assert len(list(generation.glob("*.trm"))) == 2
    return generation


def _garble_pages(path: Path) -> None:
    """A failing disk: 16 bytes garbled in every 4 KiB page."""
    data = bytearray(path.read_bytes())
    for at in range(2048, len(data), 4096):
        data[at:at + 16] = bytes(b ^ 0x5A for b in data[at:at + 16])
    path.write_bytes(bytes(data))


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


@pytest.mark.parametrize("whole", [True, False], ids=["read whole", "sampled"])
def test_trial_open_passes_a_healthy_generation_and_finds_damage_checksums_miss(tmp_path, monkeypatch, whole):
    """Found in review: a garbled file under a manifest rewritten to match it
    was served. The trial open reads the index for real; small segments
    whole, big ones in samples (forced here for a small one)."""
    import shutil

    from searchapp.backends.whoosh import trial
    from searchapp.store.generations import recorded_items

    monkeypatch.setattr(trial, "WHOLE_DOCS", 10_000 if whole else 0)
    generation = _two_segment_index(tmp_path)
    items = recorded_items(generation)
    assert items == 46 and trial.trial_open(generation, items) is None
    assert "46 documents, build.json says 47" in trial.trial_open(generation, 47)

    def segment_file(copy, suffix):
        return sorted(copy.glob("*" + suffix), key=lambda p: p.stat().st_size)[-1]

    damages = {f"{suffix} {how.__name__}": (suffix, how) for suffix in (".pst", ".trm", "_stored.col")
               for how in (_truncate, _garble_pages)}
    damages["toc deleted"] = (".toc", Path.unlink)
    for name, (suffix, how) in damages.items():
        copy = tmp_path / "copies" / name.replace(" ", "_") / generation.name
        shutil.copytree(generation, copy)
        how(segment_file(copy, suffix))
        why = trial.trial_open(copy, items)
        assert why and why.startswith("a trial open failed: ") and "\n" not in why, (name, why)


def test_a_sampled_trial_open_reads_a_bounded_number_of_postings_lists(tmp_path, monkeypatch):
    """Sampled (segments above WHOLE_DOCS), the cost does not grow with the
    index: at most SAMPLE_TERMS lists per field and a few per sampled document
    (its cost at 10,000 items, as a ratio of opening: see README)."""
    from searchapp.backends.whoosh import trial

    generation = _two_segment_index(tmp_path)
    read = []
    original = trial._postings
    monkeypatch.setattr(trial, "_postings", lambda *args, **kwargs: read.append(args[1]) or original(*args, **kwargs))
    monkeypatch.setattr(trial, "WHOLE_DOCS", 0)
    assert trial.trial_open(generation, 46) is None
    per_segment = len(make_schema().names()) * trial.FIELD_POSTINGS + trial.SAMPLE_DOCS * (1 + len(TEXT_FIELDS))
    assert 0 < len(read) <= 2 * per_segment
    monkeypatch.setattr(trial, "WHOLE_DOCS", 10_000)
    read.clear()
    assert trial.trial_open(generation, 46) is None
    assert len(read) > 2 * per_segment    # read whole: every term's postings
