"""Search backends: everything that knows a search library sits below this package."""


def default_backend():
    """The backend a SearchEngine uses unless given one: Whoosh, today.

    Every reader in the process then trial-opens a generation (Backend.usable)
    before it serves it (store.generations.check_generation)."""
    from searchapp.backends.whoosh.backend import WhooshBackend
    from searchapp.store.generations import use_trial_open

    backend = WhooshBackend()
    use_trial_open(backend.usable)
    return backend
