"""What every response of the web face must carry and what it must never trust.

- `SecurityHeaders`: a WSGI wrapper in front of the Flask app. Every
  response gets the security headers (also errors raised outside Flask's own
  handlers), and the request's host, scheme and path prefix are set from the
  configured public base URL, so nothing the client sends as `Host` is ever
  reflected (feed ids and links, page links) or parsed (a 64-character host
  label once made werkzeug raise, and the error page's url_for failed too).
- `secure_gunicorn_errors()`: gunicorn answers malformed requests itself
  (400, 414 URI too long, 431 header fields too large, 500 when the app
  fails before sending headers) without calling the app; its error writer
  is replaced, in the server process only, by one that sends the same
  headers.
- `bounded_int` parses numbers from requests with a length limit (Python
  refuses to convert more than 4,300 digits: a ValueError, once a 500).
- `safe_link` (= `searchapp.model.public_url`, the one rule for every URL
  from the corpus that is shown or served): only http(s) URLs without
  control characters or spaces become links or API values (a control
  character in an Atom href makes the feed ill-formed XML).
"""

from __future__ import annotations

import html
from urllib.parse import urlsplit

from searchapp.model import BAD_IN_URL, public_url

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = (
    ("Content-Security-Policy", CSP),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "same-origin"),
    ("X-Frame-Options", "DENY"),
)
_NAMES = {name.lower() for name, _ in SECURITY_HEADERS}



class BadBaseUrl(ValueError):
    pass


def parse_base_url(base_url: str) -> tuple[str, str, str]:
    """'https://news.example.org/search-app/' -> (scheme, host[:port], path prefix without a final /)."""
    try:
        parts = urlsplit(base_url.strip())
        port = parts.port  # validates it
    except ValueError as error:
        raise BadBaseUrl(f"--base-url {base_url!r} is not a URL: {error}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname or BAD_IN_URL.search(base_url.strip()):
        raise BadBaseUrl(f"--base-url must be an http(s) URL such as https://news.example.org/, got {base_url!r}")
    if parts.query or parts.fragment or parts.username or parts.password:
        raise BadBaseUrl("--base-url may not have a query, a fragment or a user name")
    if parts.path.strip("/"):
        # the page's links and scripts address /search, /api/... at the root of the host
        raise BadBaseUrl("--base-url must be the root of a host (https://news.example.org/): serving the app "
                         f"below a path ({parts.path}) is not supported yet")
    host = parts.hostname
    if ":" in host:
        host = f"[{host}]"
    netloc = host + (f":{port}" if port else "")
    return parts.scheme, netloc, parts.path.rstrip("/")


def base_url_for_bind(host: str, port: int) -> str:
    """The default public base URL: the address the server binds."""
    if host in ("0.0.0.0", ""):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"http://{host}:{port}"


def add_security_headers(headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
    present = {name.lower() for name, _ in headers}
    return headers + [(name, value) for name, value in SECURITY_HEADERS if name.lower() not in present]


class SecurityHeaders:
    """WSGI middleware: the public base URL replaces the client's Host, and
    every response carries the security headers."""

    def __init__(self, app, base_url: str = "http://localhost"):
        self.app = app
        self.base_url = base_url.rstrip("/")
        self.scheme, self.netloc, self.prefix = parse_base_url(base_url)
        parts = urlsplit(base_url.strip())
        self.server_name = parts.hostname
        self.server_port = str(parts.port or (443 if self.scheme == "https" else 80))

    def __call__(self, environ, start_response):
        environ["HTTP_HOST"] = self.netloc
        environ["SERVER_NAME"] = self.server_name
        environ["SERVER_PORT"] = self.server_port
        environ["wsgi.url_scheme"] = self.scheme
        environ["SCRIPT_NAME"] = self.prefix
        for forwarded in ("HTTP_X_FORWARDED_HOST", "HTTP_X_FORWARDED_PROTO", "HTTP_X_FORWARDED_PREFIX",
                          "HTTP_FORWARDED", "HTTP_X_FORWARDED_SERVER", "HTTP_X_FORWARDED_PORT"):
            environ.pop(forwarded, None)

        def secured_start_response(status, headers, exc_info=None):
            return start_response(status, add_security_headers(list(headers)), exc_info)

        try:
            return self.app(environ, secured_start_response)
        except Exception:  # Flask handles its own errors; this is the last line
            body = b"Internal Server Error\n"
            start_response("500 Internal Server Error",
                           add_security_headers([("Content-Type", "text/plain; charset=utf-8"),
                                                 ("Content-Length", str(len(body)))]),
                           __import__("sys").exc_info())
            return [body]


def _secure_write_error(sock, status_int, reason, mesg):
    """gunicorn.util.write_error with the security headers (same body, escaped)."""
    from gunicorn import util

    body = (f"<!doctype html>\n<html><head><title>{html.escape(reason)}</title></head>\n"
            f"<body><h1>{html.escape(reason)}</h1>\n<p>{html.escape(mesg)}</p></body></html>\n").encode(
        "utf-8", "replace")
    head = [f"HTTP/1.1 {int(status_int)} {reason}", "Connection: close",
            "Content-Type: text/html; charset=utf-8", f"Content-Length: {len(body)}"]
    head += [f"{name}: {value}" for name, value in SECURITY_HEADERS]
    util.write_nonblock(sock, ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)


def secure_gunicorn_errors() -> None:
    """Make gunicorn's own error responses (400, 414, 431, 500...) carry the
    security headers. Call in the server process (before workers fork);
    gunicorn's workers look the writer up in gunicorn.util at each error."""
    from gunicorn import util

    util.write_error = _secure_write_error


MAX_NUMBER_DIGITS = 9


def bounded_int(raw: str, low: int, high: int) -> int | None:
    """A whole number from a request, in [low, high]; None if it is not one.
    Never converts more than MAX_NUMBER_DIGITS digits."""
    raw = raw.strip()
    if not raw or len(raw) > MAX_NUMBER_DIGITS or not (raw.isascii() and raw.isdigit()):
        return None
    value = int(raw)
    return value if low <= value <= high else None


# Page links, Atom, JSON and CSV share one rule for corpus URLs: model.public_url.
safe_link = public_url
