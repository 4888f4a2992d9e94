"""Jurisdiction and body tagging against the hand labels.

    python bench/tagging.py [--corpus-root ../shared/corpus] [--speed N] [--speed-corpus DIR]
                            [--errors tune|test|test2a|...] [--json out.json] [--tuning-only]

Fixtures (`tests/fixtures/`):
- `tagging_selection.json`: 300 items, 240 `related:` entries of
  regulation-news (text = the entry's own title + excerpt) and 60 Power Apps
  files as negatives (title + excerpt + body), each with its split (tune or
  test) fixed before labelling;
- `tagging_labels_tune.json`, `tagging_labels_test.json`: per item the
  jurisdictions and the bodies (`name`, `kind`) a careful reader names;
- `tagging_selection_test2.json` + `tagging_labels_test2.json`: a second
  fresh test half (180 related entries, 40 Power Apps negatives), selected
  after the first test half's errors had been read (which made that half
  tuning data too), labelled by two readers after the tagger was frozen;
  reported when its labels exist;
- `jurisdiction_labels.json`: the older 147-file fixture (file title +
  excerpt + body; `regulators` = body names), kept as a regression figure.
  It was labelled when only gazetteer bodies existed, so its regulator
  figure compares the bodies the text names by a gazetteer name or alias
  (`tag_item(..., generic_bodies=False)`); the figure with every body the
  tagger now names (generic designations such as "EU officials" ->
  European Commission, which that fixture never labels) is printed too.

Figures are micro-averaged over (item, value) pairs. Per kind: recall over the
labelled values of that kind, precision over the tagged values of that kind
(kinds of jurisdictions come from the place data: country, subdivision, city,
bloc; kinds of bodies from the gazetteer or the generated name). Negatives:
tags (jurisdictions + bodies) per Power Apps item, all of them false.
Speed: items/s of `tag_item(title, excerpt, body)` over the regulation-news
and powerapps-news files, single process, after the one-off compile. These
files have no body of their own, so the body is the titles and excerpts of
up to 8 of their related entries (real news prose, about 1,500 characters).

Since the first test half's errors were read, tune and test are both tuning
data (`--errors tune|test` lists their errors). test2 is split by item with a
fixed rule (`split_test2`: positives and negatives apart, ordered by
sha256(SPLIT_SEED + url), first half of each): test2a (90 + 20 items) is
tuning data for the third pass, test2b (90 + 20) is held out; test2 reports
both together.
`--swap` is a check of generalisation that needs no new labels: each tuning
item (tune, test2a) about one country other than the US, whose bodies of that
country are generic ("<Country> Government", "<Country> DPA"), that the tagger
gets right and that names no gazetteer body of that country, is rewritten with
the country's names and demonyms swapped for another country's, and its labels
swapped alike; rules that hold for any country tag the copies as well as the
originals. Two sets of countries: plain names (Brazil, Kenya, Poland...) and
names that are also words or people's names (Peru, Cuba, Jordan, Chad...);
and US states alike (items about one state and no city: California to
Oregon, Virginia...).
`--background` checks what a full body does to the tags (no labelled item
has one): each tuning item the tagger gets right gets a body of neutral
sentences with one hand-written background sentence naming another country
in passing ("Similar tools are already sold in Brazil."); the tags should not
change. It also puts a dateline of another place before each excerpt
("TORONTO (AP) — ") or a body quoting a person whose given name is a place
("said Georgia Brown, an advocate") or the title in headline case ("UK Follows
Australia in..."): the tags should not change either.
`--speed-corpus DIR` also times the files of a generated corpus
(`python bench/make_corpus.py 5000 /tmp/gen5k`), with their own bodies.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
PROJECT = HERE.parent
sys.path.insert(0, str(PROJECT))

from searchapp.enrich import gazetteer  # noqa: E402
from searchapp.enrich.gazetteer import tag_item  # noqa: E402
from searchapp.ingest.reader import canonical_url, parse_file  # noqa: E402

FIXTURES = PROJECT / "tests" / "fixtures"
DEFAULT_CORPUS_ROOT = Path(os.environ.get("SEARCHAPP_SHARED", PROJECT.parent / "shared")) / "corpus"
JURISDICTION_KINDS = ("country", "subdivision", "city", "bloc")
SPEED_FOLDERS = ("regulation-news", "powerapps-news")
BODY_ENTRIES = 8    # the corpus files have no body: the titles and excerpts of 8 related entries stand in
BODY_KINDS = ("regulator", "court", "legislature", "government", "police", "international")


def jurisdiction_kind(name: str) -> str:
    kind = getattr(gazetteer, "jurisdiction_kind", None)
    return kind(name) if kind else "unknown"


def body_kind(name: str) -> str:
    kind = getattr(gazetteer, "body_kind", None)
    return kind(name) if kind else "unknown"


# ---------------------------------------------------------------- loading

HALVES = ("tune", "test", "test2")
# test2 split by item (issue 13, third pass): test2a for tuning, test2b held out. The rule is fixed:
# positives and negatives apart, each ordered by sha256(SPLIT_SEED + url), the first half of each -> test2a.
SPLIT_SEED = "tag3-test2-split-2026-12-01:"
REPORTED = ("tune", "test", "test2a", "test2b", "test2")


def split_test2(items: list[dict]) -> None:
    """Relabel the test2 items as test2a (tuning) or test2b (held out), deterministically."""
    for negative in (False, True):
        rows = sorted((i for i in items if i["split"] == "test2" and i["negative"] == negative),
                      key=lambda i: hashlib.sha256((SPLIT_SEED + i["url"]).encode("utf-8")).hexdigest())
        for n, item in enumerate(rows):
            item["split"] = "test2a" if n < (len(rows) + 1) // 2 else "test2b"


def load_items(corpus: Path) -> list[dict]:
    """Selection + labels: per item split, negative, text fields, labelled values (test2 when labelled)."""
    selection = json.loads((FIXTURES / "tagging_selection.json").read_text(encoding="utf-8"))["items"]
    labels = {}
    for half in HALVES:
        path = FIXTURES / f"tagging_labels_{half}.json"
        if half == "test2":
            if not path.exists():
                continue
            selection = selection + json.loads((FIXTURES / "tagging_selection_test2.json")
                                               .read_text(encoding="utf-8"))["items"]
        for item in json.loads(path.read_text(encoding="utf-8"))["items"]:
            labels[item["url"]] = item
    records: dict[str, object] = {}

    def record(rel: str):
        if rel not in records:
            records[rel] = parse_file(corpus / rel, rel)
        return records[rel]

    items = []
    for chosen in selection:
        label = labels[chosen["url"]]
        if chosen.get("negative"):
            own = record(chosen["path"]).own
            fields = (own.title, own.excerpt, own.body)
        else:
            rel = chosen["source"].removeprefix("related of ")
            want = canonical_url(chosen["url"])
            entry = next(e for e in record(rel).related if canonical_url(e.url) == want)
            fields = (entry.title, entry.excerpt, "")
        items.append({
            "url": chosen["url"], "split": chosen["split"], "negative": bool(chosen.get("negative")),
            "fields": fields, "jurisdictions": set(label["jurisdictions"]),
            "bodies": {b["name"]: b["kind"] for b in label["bodies"]},
        })
    split_test2(items)
    return items


def load_old_fixture(corpus: Path) -> list[dict]:
    data = json.loads((FIXTURES / "jurisdiction_labels.json").read_text(encoding="utf-8"))["items"]
    out = []
    for item in sorted(data, key=lambda i: i["path"]):
        own = parse_file(corpus / item["path"], item["path"]).own
        out.append({"path": item["path"], "fields": (own.title, own.excerpt, own.body),
                    "jurisdictions": set(item["jurisdictions"]), "regulators": set(item["regulators"])})
    return out


# ---------------------------------------------------------------- scoring

def tag_all(items: list[dict]) -> None:
    for item in items:
        tags = tag_item(*item["fields"])
        item["got_jurisdictions"] = set(tags.jurisdictions)
        item["got_bodies"] = set(tags.regulators)


def prf(tp: int, fp: int, fn: int) -> dict:
    return {"p": tp / (tp + fp) if tp + fp else 1.0, "r": tp / (tp + fn) if tp + fn else 1.0,
            "tp": tp, "fp": fp, "fn": fn}


def score(items: list[dict], got: str, want: str, kind_of=None, want_kind=None) -> dict:
    """Overall P/R and, with kind_of, per kind (label kind for recall, tagged kind for precision)."""
    tp = fp = fn = 0
    per: dict[str, list[int]] = {}
    for item in items:
        g, w = item[got], item[want]
        w_names = set(w)
        tp += len(g & w_names)
        fp += len(g - w_names)
        fn += len(w_names - g)
        if kind_of:
            for name in g:
                cell = per.setdefault(kind_of(name), [0, 0, 0, 0])   # tp_p, fp, tp_r, fn
                cell[0 if name in w_names else 1] += 1
            for name in w_names:
                kind = want_kind(w, name)
                cell = per.setdefault(kind, [0, 0, 0, 0])
                cell[2 if name in g else 3] += 1
    out = {"all": prf(tp, fp, fn)}
    for kind, (tpp, fpp, tpr, fnr) in sorted(per.items()):
        out[kind] = {"p": tpp / (tpp + fpp) if tpp + fpp else None,
                     "r": tpr / (tpr + fnr) if tpr + fnr else None,
                     "tagged": tpp + fpp, "labelled": tpr + fnr}
    return out


def _named_only(fields):
    """The old fixture's scheme: only bodies named by a gazetteer name or alias (no generic designations)."""
    try:
        return tag_item(*fields, generic_bodies=False)
    except TypeError:   # a tagger without designations
        return tag_item(*fields)


def evaluate(corpus: Path) -> dict:
    """Every figure of the report, as data (the tests assert floors on it)."""
    items = load_items(corpus)
    tag_all(items)
    positives = [i for i in items if not i["negative"]]
    halves = {half: [i for i in items if i["split"] == half or (half == "test2" and i["split"].startswith("test2"))]
              for half in REPORTED}
    halves = {half: rows for half, rows in halves.items() if rows}
    halves["all"] = items
    report: dict = {}
    for half, rows in halves.items():
        report[half] = {
            "jurisdictions": score(rows, "got_jurisdictions", "jurisdictions",
                                   jurisdiction_kind, lambda w, n: jurisdiction_kind(n)),
            "bodies": score(rows, "got_bodies", "bodies", body_kind, lambda w, n: w[n]),
        }
        negatives = [i for i in rows if i["negative"]]
        report[half]["negatives"] = {
            "items": len(negatives),
            "false_tags_per_item": (sum(len(i["got_jurisdictions"]) + len(i["got_bodies"]) for i in negatives)
                                    / max(1, len(negatives))),
        }
    old = load_old_fixture(corpus)
    for item in old:
        tags = tag_item(*item["fields"])
        item["got_jurisdictions"], item["got_all_bodies"] = set(tags.jurisdictions), set(tags.regulators)
        item["got_regulators"] = set(_named_only(item["fields"]).regulators)
    report["old_fixture"] = {"jurisdictions": score(old, "got_jurisdictions", "jurisdictions"),
                             "regulators": score(old, "got_regulators", "regulators"),
                             "regulators_all_bodies": score(old, "got_all_bodies", "regulators")}
    report["_items"] = items
    report["_positives"] = len(positives)
    return report


def speed_generated(folder: Path, repeat: int = 3) -> dict:
    """Items/s of tag_item on the files of a generated corpus (bench/make_corpus.py), own bodies included."""
    texts = []
    for path in sorted(folder.rglob("*.md")):
        try:
            record = parse_file(path, str(path.relative_to(folder)))
        except Exception:
            continue
        texts.append((record.own.title, record.own.excerpt, record.own.body or ""))
    return _time(texts, repeat)


def _time(texts: list, repeat: int) -> dict:
    """Best of `repeat` passes, wall clock and CPU time of this process (the machine may be shared)."""
    tag_item("warm up the compiled tables", "", "")
    chars = sum(len(a) + len(b) + len(c) for a, b, c in texts)
    best_wall = best_cpu = float("inf")
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        for fields in texts:
            tag_item(*fields)
        best_wall = min(best_wall, time.perf_counter() - wall)
        best_cpu = min(best_cpu, time.process_time() - cpu)
    n = len(texts)
    return {"items": n, "seconds": best_wall, "items_per_s": n / best_wall, "items_per_cpu_s": n / best_cpu,
            "mean_chars": chars / max(1, n), "with_body": sum(1 for t in texts if t[2])}


def speed(corpus: Path, repeat: int = 20) -> dict:
    """Items/s of tag_item on title + excerpt + body of the regulation-news and Power Apps files."""
    texts = []
    for folder in SPEED_FOLDERS:
        for path in sorted((corpus / folder).glob("*.md")):
            try:
                record = parse_file(path, f"{folder}/{path.name}")
            except Exception:
                continue
            body = record.own.body or " ".join(f"{e.title}. {e.excerpt}" for e in record.related[:BODY_ENTRIES])
            texts.append((record.own.title, record.own.excerpt, body))
    return _time(texts, repeat)


# ---------------------------------------------------------------- country swap

SWAP_PLAIN = {"Brazil": "Brazilian", "Kenya": "Kenyan", "Poland": "Polish", "Mexico": "Mexican",
              "Indonesia": "Indonesian", "Nigeria": "Nigerian", "Argentina": "Argentine", "Vietnam": "Vietnamese",
              "Egypt": "Egyptian", "Chile": "Chilean", "Thailand": "Thai", "Sweden": "Swedish"}
SWAP_AMBIGUOUS = {"Peru": "Peruvian", "Cuba": "Cuban", "Oman": "Omani", "Panama": "Panamanian", "Jordan": "Jordanian",
                  "Jamaica": "Jamaican", "Liberia": "Liberian", "Sudan": "Sudanese", "Mali": "Malian", "Chad": "Chadian"}


def _generic_kind(compiled, place: str, body: str):
    """The designation kind of a body of that place ("UK Government": government), or None."""
    for kind, pattern in gazetteer._SCHEME["country"].items():
        if pattern.format(place) == body or compiled.designations.get((place, kind)) == body:
            return kind
    return None


def _forms_of(compiled, place: str, kind: str) -> list[str]:
    return sorted({form for form, rules in compiled.forms.items() for _, r in rules
                   if r.kind == kind and r.target == place and not r.ambiguous}, key=len, reverse=True)


def swap_check(items: list[dict], targets: dict) -> dict:
    """P/R on tuning items with their one non-US country swapped for each target country."""
    import re
    compiled = gazetteer._compiled()
    counts = {"jurisdictions": [0, 0, 0], "bodies": [0, 0, 0]}
    n = wrong = 0
    for item in items:
        if item["split"] not in ("tune", "test2a") or item["negative"]:
            continue
        countries = [j for j in item["jurisdictions"] if jurisdiction_kind(j) == "country" and j != "United States"]
        if len(countries) != 1:
            continue
        x = countries[0]
        if any(x in compiled.jurisdictions[j].ancestors for j in item["jurisdictions"]):
            continue   # a city or state of it
        own = {b: _generic_kind(compiled, x, b) for b in item["bodies"]
               if compiled.regulator_jurisdiction.get(b) == x or b.startswith(x + " ")}
        if None in own.values() or any(gazetteer._SCHEME["country"].get(k, "").format(x) != b for b, k in own.items()):
            continue   # a gazetteer body of that country (ICO, CAC): its own name would stay in the text
        got = tag_item(*item["fields"])
        if (set(got.jurisdictions), set(got.regulators)) != (item["jurisdictions"], set(item["bodies"])):
            continue   # only what the tagger gets right on the original
        text = gazetteer.normalise(" | ".join(f for f in item["fields"] if f))
        if any(r.kind == "regulator" and compiled.regulator_jurisdiction.get(r.target) == x
               for *_, roles in gazetteer._scan(compiled, text, 0, len(text)) for r in roles):
            continue
        aliases, demonyms = _forms_of(compiled, x, "alias"), _forms_of(compiled, x, "demonym")
        for y, demonym in targets.items():
            if y in item["jurisdictions"]:
                continue
            new = text
            for forms, to in ((aliases, y), (demonyms, demonym)):
                for form in forms:
                    new = re.sub(r"(?<![\w.])(?:[Tt]he )?" + re.escape(form) + r"(?!\w)", to, new, flags=re.I)
            if new == text:
                break
            want_j = {y if j == x else j for j in item["jurisdictions"]}
            want_b = {gazetteer._designated_body(compiled, y, own[b]) if b in own else b for b in item["bodies"]}
            tags = tag_item(new)
            for what, g, w in (("jurisdictions", set(tags.jurisdictions), want_j), ("bodies", set(tags.regulators), want_b)):
                c = counts[what]
                c[0] += len(g & w)
                c[1] += len(g - w)
                c[2] += len(w - g)
            n += 1
            wrong += (set(tags.jurisdictions), set(tags.regulators)) != (want_j, want_b)
    return {"copies": n, "wrong": wrong, **{what: prf(*c) for what, c in counts.items()}}


SWAP_STATES = ("Oregon", "Tennessee", "Arizona", "Colorado", "Minnesota", "Virginia", "Nevada", "Ohio")


def _name(form: str) -> str:
    """A pattern for a place name as a whole word, case-insensitive."""
    return r"(?<![\w.])" + re.escape(form) + r"(?!\w)"


def _replace_names(text: str, forms: list[str], to: str) -> str:
    for form in forms:
        text = re.sub(_name(form), to, text, flags=re.I)
    return text


def _swap_copies(others, swap_of) -> tuple[int, int]:
    """(copies, wrong) of the copies `swap_of(other)` makes for each other place,
    as (text or None to stop, wanted jurisdictions, wanted bodies), or None to skip it."""
    copies = wrong = 0
    for other in others:
        swapped = swap_of(other)
        if swapped is None:
            continue
        new, want = swapped[0], swapped[1:]
        if new is None:
            break
        tags = tag_item(new)
        copies += 1
        wrong += (set(tags.jurisdictions), set(tags.regulators)) != want
    return copies, wrong


def state_swap_check(items: list[dict]) -> dict:
    """Tuning items about one US state (no city) with the state swapped for each of SWAP_STATES."""
    compiled = gazetteer._compiled()
    copies = wrong = 0
    for item, *_ in _right_tuning_items(items):
        states = [x for x in item["jurisdictions"] if jurisdiction_kind(x) == "subdivision"]
        if len(states) != 1 or any(jurisdiction_kind(x) == "city" for x in item["jurisdictions"]):
            continue
        state = states[0]
        if compiled.jurisdictions[state].ancestors[-1:] != ("United States",):
            continue
        text = gazetteer.normalise(" | ".join(f for f in item["fields"] if f))
        if any(r.kind == "regulator" and compiled.regulator_jurisdiction.get(r.target) == state
               for *_, roles in gazetteer._scan(compiled, text, 0, len(text)) for r in roles) \
                or any(compiled.regulator_jurisdiction.get(b) == state and not b.startswith(state + " ")
                       for b in item["bodies"]):
            continue   # a gazetteer body of that state (CPUC, California DMV) keeps its own name
        forms = [f for f in _forms_of(compiled, state, "alias") if len(f) > 2]

        def swap_of(other):
            if other == state:
                return None
            new = _replace_names(text, forms, other)
            return (None if new == text else new,
                    {other if x == state else x for x in item["jurisdictions"]},
                    {other + b[len(state):] if b.startswith(state + " ") else b for b in item["bodies"]})
        n, w = _swap_copies(SWAP_STATES, swap_of)
        copies, wrong = copies + n, wrong + w
    return {"copies": copies, "wrong": wrong}


# Mid-size US cities whose names have several words (below the 250,000 at which a US city's name
# stands alone): from GeoNames' list, not from news.
SWAP_CITIES = ("Ann Arbor", "Grand Rapids", "Fort Collins", "Cedar Rapids", "Sioux Falls", "Overland Park",
               "Thousand Oaks", "Round Rock")


def city_swap_check(items: list[dict]) -> dict:
    """Tuning items about one US city with the city swapped for each of SWAP_CITIES, without naming
    its state (news names a city alone): how many copies come out wrong."""
    compiled = gazetteer._compiled()
    copies = wrong = 0
    for item, *_ in _right_tuning_items(items):
        cities = [x for x in item["jurisdictions"] if jurisdiction_kind(x) == "city"]
        if len(cities) != 1 or compiled.jurisdictions[cities[0]].ancestors[-1:] != ("United States",):
            continue
        city = cities[0]
        state = compiled.jurisdictions[city].ancestors[0]
        if any(compiled.regulator_jurisdiction.get(b) in (city, state) and not b.startswith((city + " ", state + " "))
               for b in item["bodies"]):
            continue   # a body with a name of its own (NYPD, CPUC) would keep it
        text = gazetteer.normalise(" | ".join(f for f in item["fields"] if f))
        forms = [f for f in _forms_of(compiled, city, "alias") if len(f) > 2]
        state_forms = [f for f in _forms_of(compiled, state, "alias") if len(f) > 2]

        def swap_of(other):
            new = _replace_names(text, forms, other)
            if new == text or any(re.search(_name(f), new, flags=re.I) for f in state_forms):
                new = None   # nothing to swap, or the old state is named too: about two places
            swap = {city: other, state: compiled.jurisdictions[other].ancestors[0]}
            return (new, {swap.get(x, x) for x in item["jurisdictions"]},
                    {other + b[len(city):] if b.startswith(city + " ") else b for b in item["bodies"]})
        n, w = _swap_copies(SWAP_CITIES, swap_of)
        copies, wrong = copies + n, wrong + w
    return {"copies": copies, "wrong": wrong}


# ---------------------------------------------------------------- a body naming another country in passing

BACKGROUND_SENTENCES = (   # hand-written, not news text
    "The technology has also drawn attention in {y}.",
    "Similar tools are already sold in {y}.",
    "Last year a trial of the system took place in {y}.",
    "Researchers in {y} published a study on the risks last month.",
    "Shares of the company rose 3% in trading in {y} on Monday.",
    "{d} users make up a large share of its customers.",
    "The firm, which has a large office in {y}, did not respond to a request for comment.",
    "Critics pointed to an earlier case in {y} as a warning.",
    "The company also faces questions in {y}.",
    "Analysts in {y} expect demand to grow.",
)
BACKGROUND_COUNTRIES = {"Brazil": "Brazilian", "Japan": "Japanese", "Canada": "Canadian", "Germany": "German",
                        "India": "Indian", "Australia": "Australian"}
NEUTRAL = "The announcement was made on Tuesday. Advocates and industry groups reacted quickly. "


def _right_tuning_items(items: list[dict]):
    """(item, title, excerpt, tags) of the tuning items (tune, test2a) the tagger gets right on
    title and excerpt: the base that the checks below change in one controlled way."""
    for item in items:
        if item["split"] not in ("tune", "test2a") or item["negative"]:
            continue
        title, excerpt, _ = item["fields"]
        base = tag_item(title, excerpt)
        if (set(base.jurisdictions), set(base.regulators)) == (item["jurisdictions"], set(item["bodies"])):
            yield item, title, excerpt, base


def _changed(items: list[dict], copies_of) -> dict:
    """How many copies change tags; `copies_of(item, title, excerpt)` yields each copy's (title, excerpt, body)."""
    copies = changed = 0
    for item, title, excerpt, base in _right_tuning_items(items):
        for copy in copies_of(item, title, excerpt):
            copies += 1
            changed += tag_item(*copy) != base
    return {"copies": copies, "changed": changed, "rate": changed / max(1, copies)}


def background_check(items: list[dict]) -> dict:
    """Copies of the tuning items with a body naming another country once in passing: how many change tags."""
    def copies_of(item, title, excerpt):
        if not item["jurisdictions"]:
            return
        for y, d in BACKGROUND_COUNTRIES.items():
            if y not in item["jurisdictions"]:
                for sentence in BACKGROUND_SENTENCES:
                    yield title, excerpt, NEUTRAL * 2 + sentence.format(y=y, d=d) + " " + NEUTRAL
    return _changed(items, copies_of)


# US states and cities for the same check one level down, on the US items (names from GeoNames).
BACKGROUND_LOCALITIES = ("Detroit", "Seattle", "Chicago", "Atlanta", "Denver", "Texas", "Ohio", "Florida", "Arizona")


def local_background_check(items: list[dict]) -> dict:
    """Copies of the tuning items about the US with a body naming a US state or city once in passing."""
    def copies_of(item, title, excerpt):
        if "United States" not in item["jurisdictions"]:
            return
        for y in BACKGROUND_LOCALITIES:
            if y not in item["jurisdictions"]:
                for sentence in BACKGROUND_SENTENCES:
                    if "{d}" not in sentence:
                        yield title, excerpt, NEUTRAL * 2 + sentence.format(y=y) + " " + NEUTRAL
    return _changed(items, copies_of)


DATELINES = ("LONDON (Reuters) - ", "TOKYO, March 3 (Reuters) - ", "SAO PAULO -- ", "Berlin, Germany - ", "NEW DELHI: ",
             "SYDNEY, Australia — ", "TORONTO (AP) — ", "PARIS, Feb 12 (AFP) - ")


PERSONS = ("Jordan Peterson, an analyst", "Victoria Lee, who studies the field", "Austin Smith, an engineer",
           "Chad Miller, a spokesman", "Georgia Brown, an advocate", "Paris Hilton, a former customer",
           "Kent Walker, the company's president", "Florence Welch, a researcher", "Sydney Young, a consultant",
           "Dallas Green, a former engineer")


def person_check(items: list[dict]) -> dict:
    """Copies of the tuning items with a body quoting a person whose given name is a place: how many change."""
    return _changed(items, lambda item, title, excerpt: (
        (title, excerpt, f"The tool is popular, said {person}.") for person in PERSONS))


_SMALL_WORDS = frozenset("a an the and or but nor of to in on at for by with from as is are was were be".split())


def headline_case(title: str) -> str:
    """Every word capitalised but the small ones (AP style): "UK Follows Australia in Clamping Down..."."""
    return " ".join(w if (i and w.lower() in _SMALL_WORDS) else w[:1].upper() + w[1:]
                    for i, w in enumerate(title.split(" ")))


def headline_check(items: list[dict]) -> dict:
    """Tuning items with their title in headline case: how many change tags."""
    return _changed(items, lambda item, title, excerpt: [(headline_case(title), excerpt, "")])


def dateline_check(items: list[dict]) -> dict:
    """Copies of the tuning items with a dateline of another place before the excerpt: how many change tags."""
    return _changed(items, lambda item, title, excerpt: ((title, dateline + excerpt, "") for dateline in DATELINES))


# A title opening with a place that acts ("Italy bans ChatGPT"), its verb swapped for one the
# tagger's verb lists lack, in headline forms of intent ("Italy to audit ChatGPT"): the place
# must stay tagged. Verbs chosen by hand, not from news text.
OPEN_VERBS = ("audit", "share", "build", "launch", "create", "study", "review", "expand", "fund", "track",
              "scrap", "delay", "pause", "rewrite", "overhaul", "label", "license", "tax", "vet", "map")
INTENT_FORMS = ("{place} to {verb}", "{place} will {verb}", "{place} plans to {verb}", "{place} moves to {verb}")
_TITLE_ACT = re.compile(r"^(?P<place>[A-Z][\w.']*(?: [A-Z][\w.']*){0,2}) (?P<verb>[a-z]+s|[a-z]+ed) (?P<rest>.+)$")


def verb_check(items: list[dict]) -> dict:
    """Copies of the tuning items whose title opens with a place and a verb, the verb swapped for
    another in a form of intent: how many lose a jurisdiction."""
    copies = lost = 0
    for item, title, excerpt, base in _right_tuning_items(items):
        match = _TITLE_ACT.match(title)
        if not match or not base.jurisdictions:
            continue
        for verb in OPEN_VERBS:
            for form in INTENT_FORMS:
                copy = form.format(place=match["place"], verb=verb) + " " + match["rest"]
                copies += 1
                lost += not set(base.jurisdictions) <= set(tag_item(copy, excerpt).jurisdictions)
    return {"copies": copies, "changed": lost, "rate": lost / max(1, copies)}


# ---------------------------------------------------------------- printing

def _fmt(value) -> str:
    return "  -  " if value is None else f"{value:.3f}"


HELD_OUT = ("test2b", "test2", "all")   # printed only with --held-out: read once, at the end of a round


def print_report(report: dict, held_out: bool = True) -> None:
    halves = [h for h in REPORTED if h in report and (held_out or h not in HELD_OUT)]
    shown = list(halves)
    if held_out:
        halves.append("all")
    print(f"{'half':6} {'what':14} {'P':>6} {'R':>6}   tp/fp/fn")
    for half in halves:
        for what in ("jurisdictions", "bodies"):
            a = report[half][what]["all"]
            print(f"{half:6} {what:14} {a['p']:.3f}  {a['r']:.3f}   {a['tp']}/{a['fp']}/{a['fn']}")
        print(f"{half:6} {'negatives':14} {report[half]['negatives']['false_tags_per_item']:.3f} false tags/item "
              f"({report[half]['negatives']['items']} items)")
    for what, kinds in (("jurisdictions", JURISDICTION_KINDS), ("bodies", BODY_KINDS)):
        print(f"\nper kind, {what}: P R (tagged/labelled) per half")
        for kind in kinds + ("unknown",):
            cells = []
            for half in shown:
                c = report[half][what].get(kind)
                cells.append(f"{half} " + ("       -" if c is None else
                                           f"{_fmt(c['p'])} {_fmt(c['r'])} ({c['tagged']}/{c['labelled']})"))
            if any(report[h][what].get(kind) for h in shown):
                print(f"  {kind:12} " + "   ".join(f"{cell:36}" for cell in cells).rstrip())
    old = report["old_fixture"]
    print("\nold fixture (147 files, title+excerpt+body)")
    for what, label in (("jurisdictions", "jurisdictions"), ("regulators", "regulators (bodies named by a gazetteer alias, the fixture's scheme)"),
                        ("regulators_all_bodies", "regulators (every body tagged, generic designations too)")):
        a = old[what]["all"]
        print(f"  P {a['p']:.3f} R {a['r']:.3f}   {a['tp']}/{a['fp']}/{a['fn']}  {label}")


def print_errors(report: dict, half: str) -> None:
    for item in report["_items"]:
        if item["split"] != half and not (half == "test2" and item["split"].startswith("test2")):
            continue
        jw, jg = item["jurisdictions"], item["got_jurisdictions"]
        bw, bg = set(item["bodies"]), item["got_bodies"]
        if jw == jg and bw == bg:
            continue
        text = " | ".join(f for f in item["fields"] if f)[:600]
        print(f"\n--- {item['url']}\n    {text}")
        if jw != jg:
            print(f"    J missing {sorted(jw - jg)} extra {sorted(jg - jw)}")
        if bw != bg:
            print(f"    B missing {sorted(bw - bg)} extra {sorted(bg - bw)}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus-root", type=Path, default=DEFAULT_CORPUS_ROOT)
    parser.add_argument("--speed", type=int, default=5, help="passes over the texts for the speed figure (0: skip)")
    parser.add_argument("--speed-corpus", type=Path, help="also time the files of a generated corpus (make_corpus.py)")
    parser.add_argument("--errors", choices=REPORTED, help="list the items of that half with an error")
    parser.add_argument("--json", type=Path, help="write the figures as JSON")
    parser.add_argument("--swap", action="store_true",
                        help="country-swap check of generalisation on the tuning items (no new labels)")
    parser.add_argument("--background", action="store_true",
                        help="tuning items with a body naming another country in passing, or a dateline of another "
                             "place: how many change tags")
    parser.add_argument("--tuning-only", dest="held_out", action="store_false",
                        help="hide the held-out test2b (and test2, all) while tuning")
    args = parser.parse_args(argv)
    report = evaluate(args.corpus_root)
    print_report(report, args.held_out)
    if args.swap:
        for label, targets in (("plain names", SWAP_PLAIN), ("names that are also words or people", SWAP_AMBIGUOUS)):
            r = report[f"swap_{'plain' if targets is SWAP_PLAIN else 'ambiguous'}"] = swap_check(report["_items"], targets)
            j, b = r["jurisdictions"], r["bodies"]
            print(f"\ncountry swap, {label}: {r['copies']} copies, {r['wrong']} with an error; "
                  f"jurisdictions P {j['p']:.3f} R {j['r']:.3f}, bodies P {b['p']:.3f} R {b['r']:.3f}")
    if args.swap:
        r = report["swap_states"] = state_swap_check(report["_items"])
        print(f"state swap: {r['copies']} copies, {r['wrong']} with an error")
        r = report["swap_cities"] = city_swap_check(report["_items"])
        print(f"US city swap (mid-size, several words): {r['copies']} copies, {r['wrong']} with an error")
    if args.background:
        r = report["background"] = background_check(report["_items"])
        print(f"\nbody naming another country in passing: {r['changed']} of {r['copies']} copies change tags "
              f"({r['rate']:.3f})")
        r = report["local_background"] = local_background_check(report["_items"])
        print(f"body naming a US state or city in passing (US items): {r['changed']} of {r['copies']} copies change "
              f"tags ({r['rate']:.3f})")
        r = report["datelines"] = dateline_check(report["_items"])
        print(f"dateline of another place before the excerpt: {r['changed']} of {r['copies']} copies change tags "
              f"({r['rate']:.3f})")
        r = report["headline_case"] = headline_check(report["_items"])
        print(f"title in headline case: {r['changed']} of {r['copies']} copies change tags ({r['rate']:.3f})")
        r = report["open_verbs"] = verb_check(report["_items"])
        print(f"title's acting verb swapped for another in a form of intent: {r['changed']} of {r['copies']} "
              f"copies lose a jurisdiction ({r['rate']:.3f})")
        r = report["persons"] = person_check(report["_items"])
        print(f"body quoting a person whose given name is a place: {r['changed']} of {r['copies']} copies change "
              f"tags ({r['rate']:.3f})")
    if args.speed:
        s = speed(args.corpus_root, args.speed)
        report["speed"] = s
        print(f"\nspeed, regulation-news + Power Apps files: {s['items_per_s']:,.0f} items/s wall clock, "
              f"{s['items_per_cpu_s']:,.0f} per CPU second ({s['items']} items, title+excerpt+body, "
              f"mean {s['mean_chars']:.0f} chars, best of {args.speed} passes, single process)")
    if args.speed_corpus:
        s = speed_generated(args.speed_corpus, max(1, args.speed or 3))
        report["speed_generated"] = s
        print(f"speed, generated corpus {args.speed_corpus}: {s['items_per_s']:,.0f} items/s wall clock, "
              f"{s['items_per_cpu_s']:,.0f} per CPU second ({s['items']} items, {s['with_body']} with a body, "
              f"mean {s['mean_chars']:.0f} chars)")
    if args.errors:
        print_errors(report, args.errors)
    if args.errors in HELD_OUT and not args.held_out:
        parser.error("--errors of a held-out half with --tuning-only")
    if args.json:
        out = {k: v for k, v in report.items() if not k.startswith("_") and (args.held_out or k not in HELD_OUT)}
        args.json.write_text(json.dumps(out, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
