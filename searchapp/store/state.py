"""What a generation remembers of the corpus it was built from, for incremental runs."""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from pathlib import Path

from searchapp.enrich.gazetteer import GAZETTEER_VERSION
from searchapp.ingest.reader import FileRecord, FileState, NewsItem, Problem

STATE = "files.pickle"        # per file: size, mtime, hash, parsed record; per item: fingerprint
FORMAT = (10, GAZETTEER_VERSION)  # bump when the schema, the state or the tagging changes: forces a full rebuild


@dataclass
class IndexState:
    """What a generation remembers of the corpus it was built from."""

    corpus: str
    files: dict[str, tuple[FileState, FileRecord | Problem]]
    fingerprints: dict[str, str]
    mentions: dict[str, tuple[str, ...]]  # per readable file: its own item id, then the ids it lists
    stories: dict[str, str]               # per item: its story id
    story_inputs: dict[str, NewsItem]     # per item: what grouping reads (see story_input)
    format: tuple = FORMAT


def load_state(generation: Path | None) -> IndexState | None:
    if generation is None:
        return None
    try:
        with open(generation / STATE, "rb") as handle:
            state = pickle.load(handle)  # written by us, inside our own index folder
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError, TypeError):
        return None
    return state if isinstance(state, IndexState) and state.format == FORMAT else None
