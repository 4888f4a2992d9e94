"""Review of 48bdc08 (a spilling posting pool's runs written and read a chunk of postings per
marshal record; since round 13 compat.GroupedPool's runs of grouped postings)."""

from __future__ import annotations

import os

import pytest
from test_fast_write import spilling_pool


def _truncated_run_items(folder, grouped: bool, monkeypatch):
    """One run of 300 postings (3 records of 100 when grouped), its file cut by 50 bytes, then merged."""
    writer, pool = spilling_pool(folder, monkeypatch, grouped)
    for n in range(300):
        pool.add(("title", b"w%03d" % n, n, 1.0, b"v%d" % n))
    pool.save()
    path = os.path.join(pool.tempstore.folder, pool.runs[0])
    os.truncate(path, os.path.getsize(path) - 50)
    try:
        return list(pool.items())
    finally:
        writer.cancel()


def test_a_truncated_run_file_is_an_error_not_silently_fewer_postings(tmp_path, monkeypatch):
    """Expected: a run file cut short makes the merge raise, as Whoosh's own _read_run does
    (pickle: 'pickle data was truncated'), so the build fails instead of writing a segment with
    postings missing. Happened: marshal.load raises EOFError ('EOF read where not expected')
    for a record cut in the middle too, read_run takes it for the end of the file and returns:
    the merge yields 200 of the 300 postings (a whole chunk, up to _RUN_CHUNK = 2048 postings,
    lost per damaged run) and no error."""
    with pytest.raises(Exception):   # Whoosh's own path: UnpicklingError
        _truncated_run_items(tmp_path / "whoosh", False, monkeypatch)
    with pytest.raises(Exception):
        got = _truncated_run_items(tmp_path / "chunked", True, monkeypatch)
        print(f"chunked runs gave {len(got)} of 300 postings, no error")


def test_postings_read_back_from_a_run_never_share_a_value_object(tmp_path, monkeypatch):
    """Whoosh pickles each block's values with protocol 2, which writes an object met twice
    only once: postings that came back from a run sharing one value object would change the
    segment's bytes. Whoosh's runs (one marshal record, version 2, per posting) never share;
    the chunked runs must not either (marshal's default version keeps references)."""
    writer, pool = spilling_pool(tmp_path / "index", monkeypatch)
    shared = b"\x01" + b"positions" * 3
    for n in range(10):
        pool.add(("title", b"w%03d" % n, n, 1.0, shared))
    pool.save()
    try:
        values = [item[4] for item in pool.items()]
        assert values == [shared] * 10
        assert len({id(v) for v in values}) == 10
    finally:
        writer.cancel()
