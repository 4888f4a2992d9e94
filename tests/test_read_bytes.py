"""reader.read_bytes reads a file by its stat's size (round 13: read(limit) allocated the 8 MB
limit for every file), and a file that changed since its stat is still read whole or refused."""

from __future__ import annotations

from searchapp.ingest.reader import MAX_FILE_BYTES, read_bytes, stat_file


def _stat_then_write(path, before: bytes, after: bytes):
    path.write_bytes(before)
    state = stat_file(path, path.name)
    path.write_bytes(after)
    return read_bytes(path, state)


def test_a_file_that_grew_after_its_stat_is_read_whole(tmp_path):
    after = b"---\ntitle: grown\n---\n" + b"x" * 100_000
    assert _stat_then_write(tmp_path / "a.md", b"---\ntitle: small\n---\n", after) == after


def test_a_file_that_shrank_after_its_stat_is_read_as_it_is(tmp_path):
    assert _stat_then_write(tmp_path / "a.md", b"y" * 5_000, b"short") == b"short"


def test_a_file_that_grew_past_the_limit_after_its_stat_is_read_past_it_so_it_is_refused(tmp_path):
    data = _stat_then_write(tmp_path / "a.md", b"small", b"z" * (MAX_FILE_BYTES + 10))
    assert len(data) == MAX_FILE_BYTES + 1   # the caller refuses anything over the limit


def test_an_unchanged_file_is_read_exactly(tmp_path):
    path = tmp_path / "a.md"
    path.write_bytes(b"abc" * 1000)
    assert read_bytes(path, stat_file(path, "a.md")) == b"abc" * 1000
