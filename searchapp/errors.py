"""Every error of searchapp's own, one message each: the message is for people."""

from __future__ import annotations


class SearchappError(Exception):
    """Base of searchapp's own errors."""


class QueryError(SearchappError, ValueError):
    """A query or a search parameter that cannot be answered; the message says what to change."""


class IndexerError(SearchappError):
    """Base of the indexer's own errors."""


class NoIndex(IndexerError):
    def __init__(self, index_dir) -> None:
        super().__init__(f"no index in {index_dir}: build it with 'searchapp index --index {index_dir}'")


class IndexBusy(IndexerError):
    pass


class NothingToIndex(IndexerError):
    pass


class StrictFailure(IndexerError):
    def __init__(self, message: str, problems: list):
        super().__init__(message)
        self.problems = problems
