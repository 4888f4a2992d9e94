"""Web fuzz: hostile requests against a real `searchapp serve`, on loopback only.

    python bench/fuzz.py --requests 10000                  # builds the sample corpus's index, starts a server
    python bench/fuzz.py --requests 300 --index DIR        # on an existing index
    python bench/fuzz.py --url http://127.0.0.1:8000       # an already running server (loopback only)

Every route (page, search, item, API, OpenAPI, feed, health, static files,
unknown paths) with random and hostile parameters (huge numbers, thousands of
digits, control characters, bidi overrides, invalid percent-escapes and
UTF-8, repeated and very long values), methods, headers (hostile Host,
oversized and malformed headers) and malformed request lines, sent as raw
bytes so gunicorn's own error pages are reached too. Counts responses of
500 or above and responses missing the security headers (CSP, nosniff,
Referrer-Policy). Bounded by --requests and --seconds. Prints a JSON
summary; exit status 1 if any 5xx or any response without the headers.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from urllib.parse import quote, urlsplit

PROJECT = Path(__file__).resolve().parents[1]
REQUIRED = ("content-security-policy", "x-content-type-options", "referrer-policy")

ROUTES = ["/", "/search", "/item/{id}", "/api/search", "/api/suggest", "/api/item/{id}", "/api/openapi.json",
          "/feed.atom", "/healthz", "/static/app.css", "/static/app.js", "/static/../../etc/passwd", "/nope",
          "/item/", "/api/item/", "//search", "/search/", "/%2e%2e/", "/api", "/favicon.ico"]
PARAMS = ["q", "page", "per_page", "sort", "topic", "provider", "year", "jurisdiction", "regulator", "from", "to",
          "fragment", "x"]
METHODS = ["GET"] * 12 + ["HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "TRACE", "CONNECT", "GET\x00", "G ET",
                          "BREW", "get", "X" * 40]


def hostile_values(rng: random.Random) -> str:
    choices = [
        lambda: "9" * rng.choice([10, 19, 20, 400, 4301, 5000]),
        lambda: "-" + "1" * rng.randint(1, 30),
        lambda: rng.choice(["0", "1", "2", "1000", "1001", "100", "101", "1e9", "0x10", "١٢", "²", " 3 ", "+5"]),
        lambda: rng.choice(["relevance", "recent", "newest", "oldest", "random", ""]),
        lambda: rng.choice(["2023-01-01", "2023-02-30", "0000-00-00", "9999-12-31", "0001-01-01", "2023-1-1"]),
        lambda: "".join(rng.choice("abcxyz\"()*-:^~?[]{}!|&/\\' ") for _ in range(rng.randint(1, 40))),
        lambda: "%" + rng.choice(["zz", "ff", "c3%28", "ed%a0%80", "00", "0a", "0d", "e2%80%ae", "e2%80%8b", "f4%90%80%80"]),
        lambda: "".join(chr(rng.randint(0, 0x3000)) for _ in range(rng.randint(1, 20))),
        lambda: "\u202e" + "gpj.exe" + "\u200b",
        lambda: "a" * rng.choice([499, 500, 501, 2000, 7000]),
        lambda: "*" * rng.randint(1, 10) + "ion",
        lambda: " OR ".join(["x"] * rng.randint(1, 50)),
        lambda: '"' * rng.randint(1, 9),
        lambda: "title:" + rng.choice(["", "china", "\x01", "*"]),
        lambda: rng.choice(["AI", "Biometrics", "European Union", "FTC", "2023", "China"]),
        lambda: "<script>alert(1)</script>",
        lambda: "facial recognition",
    ]
    return rng.choice(choices)()


def encode(value: str, rng: random.Random) -> str:
    if value.startswith("%") and rng.random() < 0.7:
        return value  # a raw (possibly invalid) escape
    raw = quote(value.encode("utf-8", "surrogatepass"), safe="" if rng.random() < 0.8 else "*:/?&=")
    return raw


def random_target(rng: random.Random, item_ids: list[str]) -> str:
    route = rng.choice(ROUTES)
    if "{id}" in route:
        route = route.replace("{id}", rng.choice(item_ids + ["0" * 16, "zz", "A" * 16, "%00", "1" * 5000, "..%2f"]))
    pairs = []
    for _ in range(rng.choice([0, 1, 1, 2, 3, 5, 20])):
        name = rng.choice(PARAMS) if rng.random() < 0.9 else hostile_values(rng)[:20]
        pairs.append(f"{encode(name, rng)}={encode(hostile_values(rng), rng)}")
    target = route + ("?" + "&".join(pairs) if pairs else "")
    if rng.random() < 0.01:
        target += "&" + "x" * rng.choice([5000, 9000, 20000])  # beyond gunicorn's request line limit: 414
    return target


def random_request(rng: random.Random, netloc: str, item_ids: list[str]) -> bytes:
    kind = rng.random()
    method = rng.choice(METHODS)
    target = random_target(rng, item_ids)
    version = "HTTP/1.1" if rng.random() < 0.95 else rng.choice(["HTTP/1.0", "HTTP/2.0", "HTTP/9.9", "HTTP/1", "", "HTCPCP/1.0"])
    if kind < 0.02:  # malformed request lines
        line = rng.choice([f"{method}  {target} {version}", f"{method} {target}", "\x00\x01\x02", "GET / HTTP/1.1 extra",
                           f"GET /\x7f{target} HTTP/1.1", f"GET {target}\r HTTP/1.1", " ", "GET http://evil.example/ HTTP/1.1"])
    else:
        line = f"{method} {target} {version}".rstrip()
    headers = []
    host_choice = rng.random()
    if host_choice < 0.55:
        headers.append(f"Host: {netloc}")
    elif host_choice < 0.65:
        headers.append("Host: " + "a" * 64 + ".example")
    elif host_choice < 0.72:
        headers.append("Host: evil.example")
    elif host_choice < 0.77:
        headers.append("Host: " + rng.choice(["", "[::1", "a..b", "-a-.example", "é.example", "x:99999", "a b", "127.0.0.1:0"]))
    elif host_choice < 0.8:
        headers += [f"Host: {netloc}", "Host: evil.example"]
    # (else: no Host at all)
    if rng.random() < 0.2:
        headers.append(rng.choice([
            "X-Forwarded-Host: evil.example", "X-Forwarded-Proto: gopher", "Forwarded: host=evil.example",
            "Accept: application/json", "Accept-Encoding: gzip, br", "Cookie: " + "a=b; " * 200,
            "Referer: javascript:alert(1)", "User-Agent: \x01\x02", "Content-Type: application/json",
            "Transfer-Encoding: chunked", "Transfer-Encoding: gzip, chunked", "Content-Length: -1",
            "Content-Length: 99999999999999999999", "Expect: 100-continue", "Expect: bogus",
            "Bad Header: x", "X-\x00: y", "Folded: a\r\n continued", "Connection: keep-alive, Upgrade",
        ]))
    if rng.random() < 0.01:
        headers.append("X-Big: " + "b" * rng.choice([9000, 20000]))      # one oversized header
    if rng.random() < 0.01:
        headers += [f"X-H{n}: v" for n in range(rng.choice([101, 200]))]  # too many headers: 431
    headers.append("Connection: close")
    body = b""
    if method in ("POST", "PUT", "PATCH") and rng.random() < 0.5:
        body = os.urandom(rng.randint(0, 200))
        headers.append(f"Content-Length: {len(body)}")
    return ("\r\n".join([line] + headers) + "\r\n\r\n").encode("utf-8", "surrogatepass") + body


def send(host: str, port: int, payload: bytes, timeout: float = 30.0) -> tuple[int | None, dict, bytes]:
    """(final status or None when the server just closed, lower-cased headers, head bytes).

    Interim 1xx responses (100 Continue) are skipped: the response is the one after them."""
    data = b""
    with socket.create_connection((host, port), timeout=timeout) as sock:
        try:
            sock.sendall(payload)
        except OSError:
            pass  # it may answer (e.g. 414) and close before reading everything
        try:
            while len(data) < 1 << 22:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                data += chunk
        except (socket.timeout, ConnectionResetError):
            pass
    while True:
        head, _, rest = data.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        if not lines or not lines[0].startswith(b"HTTP/"):
            return None, {}, head
        try:
            status = int(lines[0].split()[1])
        except (IndexError, ValueError):
            return None, {}, head
        if 100 <= status < 200 and rest.startswith(b"HTTP/"):
            data = rest
            continue
        break
    headers = {}
    for raw in lines[1:]:
        name, _, value = raw.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    return status, headers, head


def item_ids_of(host: str, port: int) -> list[str]:
    payload = f"GET /api/search?per_page=50 HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n\r\n".encode()
    with socket.create_connection((host, port), timeout=30) as sock:
        sock.sendall(payload)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    try:
        body = json.loads(data.split(b"\r\n\r\n", 1)[1])
        return [hit["id"] for hit in body["results"]] or ["0" * 16]
    except (ValueError, KeyError, IndexError):
        return ["0" * 16]


def fuzz(url: str, requests: int, seconds: float, seed: int, threads: int = 4) -> dict:
    parts = urlsplit(url)
    host, port = parts.hostname, parts.port or 80
    if not ipaddress.ip_address(socket.gethostbyname(host)).is_loopback:
        raise SystemExit("fuzz only loopback servers (127.0.0.1, ::1)")
    item_ids = item_ids_of(host, port)
    counts: Counter = Counter()
    statuses: Counter = Counter()
    examples: dict[str, list] = {"5xx": [], "missing_headers": []}
    lock = threading.Lock()
    deadline = time.monotonic() + seconds
    next_n = iter(range(requests))

    def worker(k: int) -> None:
        while time.monotonic() < deadline:
            with lock:
                n = next(next_n, None)
            if n is None:
                return
            rng = random.Random(seed * 1_000_003 + n)
            payload = random_request(rng, f"{host}:{port}", item_ids)
            try:
                status, headers, _ = send(host, port, payload)
            except OSError as error:
                with lock:
                    counts["connection_errors"] += 1
                continue
            with lock:
                counts["requests"] += 1
                if status is None:
                    counts["no_response"] += 1
                    continue
                counts["responses"] += 1
                statuses[status] += 1
                if status >= 500:
                    counts["5xx"] += 1
                    if len(examples["5xx"]) < 10:
                        examples["5xx"].append([status, payload[:300].decode("utf-8", "replace")])
                if not all(h in headers for h in REQUIRED) or headers.get("x-content-type-options") != "nosniff":
                    counts["missing_headers"] += 1
                    if len(examples["missing_headers"]) < 10:
                        examples["missing_headers"].append([status, payload[:300].decode("utf-8", "replace")])

    started = time.monotonic()
    pool = [threading.Thread(target=worker, args=(k,)) for k in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    return {"requests": counts["requests"], "responses": counts["responses"], "no_response": counts["no_response"],
            "connection_errors": counts["connection_errors"], "5xx": counts["5xx"],
            "missing_security_headers": counts["missing_headers"],
            "statuses": {str(k): v for k, v in sorted(statuses.items())},
            "seconds": round(time.monotonic() - started, 1), "examples": examples}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(index_dir: Path, corpus: Path, log_path: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = dict(os.environ, PYTHONWARNINGS="ignore", PYTHONPATH=str(PROJECT))
    log = open(log_path, "w")
    process = subprocess.Popen([sys.executable, "-m", "searchapp", "serve", "--host", "127.0.0.1", "--port", str(port),
                                "--index", str(index_dir), "--corpus", str(corpus),
                                # one address sends everything: a budget this large keeps the per-client
                                # middleware in every request's path without making the fuzzer wait
                                "--client-share", "64"],
                               stdout=log, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"server exited with {process.returncode}: see {log_path}")
        try:
            if send("127.0.0.1", port, f"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode(),
                    timeout=5)[0] == 200:
                return process, url
        except OSError:
            pass
        time.sleep(0.2)
    process.kill()
    raise SystemExit("server did not start within 120 s")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=900, help="stop after this long whatever the count")
    parser.add_argument("--seed", type=int, default=16)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--url", help="a running server on loopback (else one is started)")
    parser.add_argument("--index", type=Path, help="index folder for the started server (built if absent)")
    parser.add_argument("--corpus", type=Path, default=PROJECT / "corpus")
    parser.add_argument("--json", type=Path, help="also write the summary here")
    args = parser.parse_args(argv)
    process = None
    with tempfile.TemporaryDirectory(prefix="searchapp-fuzz-") as tmp:
        url = args.url
        if url is None:
            index_dir = args.index or Path(tmp) / "index"
            process, url = start_server(index_dir, args.corpus, Path(tmp) / "server.log")
        try:
            summary = fuzz(url, args.requests, args.seconds, args.seed, args.threads)
        finally:
            if process is not None:
                process.terminate()
                try:
                    process.wait(15)
                except subprocess.TimeoutExpired:
                    process.kill()
    summary["url"] = url
    text = json.dumps(summary, indent=1, ensure_ascii=False)
    print(text)
    if args.json:
        args.json.write_text(text)
    return 1 if summary["5xx"] or summary["missing_security_headers"] else 0


if __name__ == "__main__":
    sys.exit(main())
