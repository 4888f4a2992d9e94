"""The Whoosh backend: the one place that imports `whoosh`.

`compat` checks, at import, every private Whoosh detail the backend relies on
and refuses a Whoosh version it was not verified with.
"""

from searchapp.backends.whoosh import compat as _compat  # noqa: F401  (checks run at import)
