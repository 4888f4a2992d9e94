"""gzip for text answers when the client accepts it.

An as-you-type answer (the results fragment) is mostly repeated markup, so
it shrinks several times over; small bodies (< 500 bytes) and anything
already encoded or streamed are left as they are. `Vary: Accept-Encoding`
tells caches that the body depends on that header.
"""

from __future__ import annotations

import gzip
import re

from flask import Flask, Response, request

MIN_BYTES = 500
LEVEL = 5   # most of level 9's gain at a fraction of its time
TYPES = ("text/", "application/json", "application/atom+xml", "application/javascript", "image/svg+xml")


def accepts_gzip(header: str) -> bool:
    """True unless gzip is absent or refused (`gzip;q=0`)."""
    for part in header.split(","):
        name, _, params = part.strip().partition(";")
        if name.strip().lower() in ("gzip", "*"):
            match = re.search(r"q\s*=\s*([0-9.]+)", params)
            try:
                return not match or float(match.group(1)) > 0
            except ValueError:
                return False
    return False


def gzip_response(response: Response) -> Response:
    response.vary.add("Accept-Encoding")
    if (response.direct_passthrough or response.is_streamed or "Content-Encoding" in response.headers
            or response.status_code < 200 or response.status_code in (204, 304)
            or not (response.mimetype or "").startswith(TYPES)
            or not accepts_gzip(request.headers.get("Accept-Encoding", ""))):
        return response
    body = response.get_data()
    if len(body) < MIN_BYTES:
        return response
    response.set_data(gzip.compress(body, compresslevel=LEVEL, mtime=0))
    response.headers["Content-Encoding"] = "gzip"
    return response


def register(app: Flask) -> None:
    app.after_request(gzip_response)
