"""Search backends: everything that knows a search library sits below this package."""


def default_backend():
    """The backend a SearchEngine uses unless given one: Whoosh, today."""
    from searchapp.backends.whoosh.backend import WhooshBackend

    return WhooshBackend()
