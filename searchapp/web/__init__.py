"""The web layer: the Flask app (HTML page, JSON API, Atom feeds, OpenAPI)."""

from searchapp.web.app import create_app

__all__ = ["create_app"]
