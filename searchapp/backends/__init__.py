"""Search backends: everything that knows a search library sits below this package."""
