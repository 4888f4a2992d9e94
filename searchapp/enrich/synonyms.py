"""Synonyms: names our users type for the same thing.

A compliance officer types "BIPA", a journalist writes "Biometric Information
Privacy Act"; one says "face recognition", another "facial recognition". Each
group below lists forms that name one thing; a query that contains one form
also finds the others (query/expand.py expands bare words, never quoted phrases).
Regulators' names and unambiguous acronyms come from the gazetteer, so the
facet and the query expansion agree on what "CNIL" or "FTC" means.
"""

from __future__ import annotations

import re
from functools import lru_cache


# Stop words that only join a name's words ("Department of Justice"); any other
# stop word in a name would fall away from the query: "US House" becomes any
# "house", so such a form is not used.
FUNCTION_WORDS = frozenset("of and the for on in to a an".split())

# Laws and technologies, curated. Each form is a whole word or phrase; case
# does not matter (query words are lowercased and stemmed before comparing).
CURATED: tuple[tuple[str, ...], ...] = (
    ("BIPA", "Biometric Information Privacy Act"),
    ("GDPR", "General Data Protection Regulation"),
    ("CCPA", "California Consumer Privacy Act"),
    ("CPRA", "California Privacy Rights Act"),
    ("COPPA", "Children's Online Privacy Protection Act"),
    ("HIPAA", "Health Insurance Portability and Accountability Act"),
    ("PIPL", "Personal Information Protection Law"),
    ("DSA", "Digital Services Act"),
    ("DMA", "Digital Markets Act"),
    ("AI Act", "Artificial Intelligence Act"),
    ("facial recognition", "face recognition"),
    ("driverless", "self-driving", "autonomous vehicle", "autonomous car"),
)


@lru_cache(maxsize=4)
def synonym_groups(analyze) -> tuple[tuple[str, ...], ...]:
    """The curated groups, then one group per regulator (name, full name,
    acronyms), keeping the forms whose words all survive `analyze` (the
    index's analyser: `analyze(field, text) -> terms`) but for function words."""
    groups = []
    from searchapp.enrich.gazetteer import regulator_synonyms  # here: loading the gazetteer takes 1.4 s,
    # which `searchapp index` (importing the CLI's search side) paid on every run
    for group in CURATED + regulator_synonyms():
        usable = tuple(form for form in group if _keeps_its_words(form, analyze))
        if len(usable) > 1:
            groups.append(usable)
    return tuple(groups)


def _keeps_its_words(form: str, analyze) -> bool:
    return all(len(w) < 2 or w in FUNCTION_WORDS or analyze(None, w) for w in re.findall(r"\w+", form.lower()))
