"""Command line: a thin layer over reader, indexer and search.

Exit status: 0 done; 1 the work could not be done (no corpus, no index,
--strict with broken files); 2 the command line or the query is wrong.
"""

from __future__ import annotations

import errno
import html
import json
import os
import re
import sys
import threading
from pathlib import Path

import click

from searchapp.errors import IndexerError, NoIndex, StrictFailure
from searchapp.ingest.reader import display_path
from searchapp.store.generations import (DAMAGE_MARK, damage_marked, damaged_files, mark_damaged,
                                         read_current, recorded_items, serving_generation, use_trial_open)
from searchapp.errors import QueryError
from searchapp.model import CONTROLS, RECENCY_HALF_LIFE_DAYS, SORTS, Filters, public_url

# Imported when a command needs them: `searchapp index` with nothing changed
# needs no search service, backend (Whoosh, numpy) or query code (issue 15:
# a nothing-changed run is to cost 1% of a full build; imports were 0.3 s of it).
MAX_PER_PAGE = 100   # core.service.MAX_PER_PAGE (a test checks they agree): --limit's bound


def default_backend():
    from searchapp.backends import default_backend as backend

    return backend()


def update_index(*args, **kwargs):
    from searchapp.indexing import update_index as update

    return update(*args, **kwargs)


def SearchEngine(*args, **kwargs):
    from searchapp.core.service import SearchEngine as Engine

    return Engine(*args, **kwargs)


def warm_body_reading():
    from searchapp.query.expand import warm_body_reading as warm

    return warm()


def _trial_open(generation, items, trusted=frozenset()):
    """The backend's trial open, imported only when a generation must be opened to be checked."""
    return default_backend().usable(generation, items, trusted)

DEFAULT_CORPUS = os.environ.get("SEARCHAPP_CORPUS", "corpus")
DEFAULT_INDEX = os.environ.get("SEARCHAPP_INDEX", "index")
_TAG = re.compile(r"<[^>]+>")


class QueryProblem(click.ClickException):
    exit_code = 2


def _progress(iterable, desc: str, unit: str):
    """A progress bar on a terminal; silence in pipes, logs and CI."""
    if not sys.stderr.isatty():
        return iterable
    if not hasattr(iterable, "__len__"):
        iterable = list(iterable)
    from tqdm import tqdm

    return tqdm(iterable, desc=desc, unit=unit, file=sys.stderr, leave=False)


index_option = click.option(
    "--index", "index_dir", type=click.Path(file_okay=False, path_type=Path),
    default=DEFAULT_INDEX, show_default=True, help="Index folder.",
)
corpus_option = click.option(
    "--corpus", type=click.Path(path_type=Path), default=DEFAULT_CORPUS, show_default=True,
    help="Folder of news files (.md, .markdown, .html, .htm), read recursively.",
)


_FIXES = {
    errno.ENOSPC: "the disk is full{where}: free some space, then run the command again (the index was left as it was)",
    errno.EDQUOT: "the disk quota is exhausted{where}: free some space, then run the command again",
    errno.EROFS: "the file system is read-only{where}: use an index folder on a writable disk (--index)",
    errno.EACCES: "permission denied{where}: run as a user who may write there, or choose another folder (--index)",
    errno.EPERM: "operation not permitted{where}: run as a user who may write there, or choose another folder (--index)",
    errno.EISDIR: "{where_} is a folder where a file should be: remove it, then run the command again",
    errno.ENOTDIR: "{where_} is a file where a folder should be: remove it or choose another path",
    errno.EMFILE: "too many open files: raise the limit (ulimit -n), then run the command again",
    errno.ENFILE: "too many open files on this system: try again later",
    errno.EIO: "input/output error{where}: the disk may be failing; check it, then run 'searchapp index'",
    errno.ENOMEM: "out of memory: close other programs or use a machine with more memory",
}


def describe_error(error: BaseException) -> str:
    """One line: what went wrong and what to do about it."""
    if isinstance(error, OSError):
        name = error.filename if isinstance(error.filename, str) else None
        where = f" ({display_path(name)})" if name else ""
        fix = _FIXES.get(error.errno)
        if fix:
            return fix.format(where=where, where_=display_path(name) if name else "a path")
        detail = display_path(error.strerror or str(error))
        return f"{detail}{where}: check the disk and the folder's permissions, then run the command again"
    if isinstance(error, MemoryError):
        return "out of memory: close other programs or use a machine with more memory"
    if isinstance(error, RecursionError):
        return "input nested too deeply to process"
    return (f"unexpected error ({type(error).__name__}: {display_path(str(error))[:300]}); "
            f"if it persists, rebuild with 'searchapp index --full' and report it")


class SafeGroup(click.Group):
    """One error path for every command: a single line with the cause and the fix, exit 1, never a traceback."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except KeyboardInterrupt:
            raise click.ClickException("interrupted") from None
        except Exception as error:
            if os.environ.get("SEARCHAPP_TRACEBACK"):
                raise
            raise click.ClickException(describe_error(error)) from None


@click.group(cls=SafeGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="searchapp")
def main() -> None:
    """Search engine over technology-regulation news."""
    use_trial_open(_trial_open)   # a generation is opened for real before it is served or built on


@main.command("index")
@corpus_option
@index_option
@click.option("--full", is_flag=True, help="Rebuild from scratch instead of updating what changed.")
@click.option("--strict", is_flag=True, help="Fail, leaving the index as it was, if any file cannot be read.")
@click.option("--wait", type=click.FloatRange(0, 3600), default=0, show_default=True,
              help="Seconds to wait for another running reindex before giving up.")
@click.option("--verify", is_flag=True,
              help="Check every file of the current generation against its checksum and decode all of it; "
                   "change nothing.")
def index_command(corpus: Path, index_dir: Path, full: bool, strict: bool, wait: float, verify: bool) -> None:
    """Bring the index up to date with the corpus (only changed files are read again)."""
    if verify:
        verify_index(index_dir)
        return
    build(corpus, index_dir, full=full, strict=strict, wait=wait)


def verify_index(index_dir: Path) -> None:
    """Hash every file of the generation CURRENT names and decode all of it; exit 1 naming the damage."""
    name, problem = read_current(index_dir)
    if name is None:
        serving, reason = serving_generation(index_dir)
        if problem is None and serving is None:
            raise click.ClickException(f"no index in {index_dir}: build it with 'searchapp index --index {index_dir}'")
        raise click.ClickException(f"{problem or reason}: run 'searchapp index --index {index_dir}' to repair it")
    generation = index_dir / name
    if not generation.is_dir():
        raise click.ClickException(f"CURRENT names {name}, which is missing: "
                                   f"run 'searchapp index --index {index_dir}' to repair it")
    damaged = damaged_files(generation, full=True)
    if damaged:
        for file, why in damaged:
            click.echo(f"damaged {display_path(name)}/{display_path(file)}: {display_path(why)}", err=True)
        raise click.ClickException(
            f"{name} is damaged ({len(damaged)} file{'s' if len(damaged) != 1 else ''}): "
            f"run 'searchapp index --index {index_dir}' to rebuild it")
    # the checksums match, but a manifest can be rewritten to match garbled files: decode everything
    why = default_backend().verify(generation, recorded_items(generation))
    if why:
        mark_damaged(generation, f"index --verify: {why}")   # the next plain `index` rebuilds it
        raise click.ClickException(f"{name} is damaged ({display_path(why)}): "
                                   f"run 'searchapp index --index {index_dir}' to rebuild it")
    files = sum(1 for p in generation.iterdir() if p.is_file())
    click.echo(f"{generation}: all {files} files match their checksums, and every document, term, posting "
               "and column value decodes and agrees")
    marked = damage_marked(generation)
    if marked:   # whole after all: the next reindex need not rebuild it
        try:
            (index_dir / f"{DAMAGE_MARK}{generation.name}").unlink(missing_ok=True)
        except OSError:
            pass
        click.echo(f"cleared a damage marker that said: {display_path(marked)}", err=True)


def build(corpus: Path, index_dir: Path, *, full: bool = False, strict: bool = False, wait: float = 0) -> None:
    """Index, report broken files and summarise; ClickException when it cannot."""
    try:
        info = update_index(corpus, index_dir, full=full, strict=strict, wait=wait, progress=_progress)
    except StrictFailure as error:
        for problem in error.problems:
            click.echo(f"skipped {display_path(problem.path)}: {display_path(problem.reason)}", err=True)
        raise click.ClickException(str(error)) from None
    except IndexerError as error:
        raise click.ClickException(str(error)) from None
    if info.repaired:
        rebuilt = "" if "pointed CURRENT back" in info.repaired else "; rebuilt from the corpus"
        click.echo(f"repaired: {display_path(info.repaired)}{rebuilt}", err=True)
    # a file name or a reason can hold anything: escaped, one report line per file
    problems = [(display_path(path), display_path(reason)) for path, reason in info.problems]
    for path, reason in problems:
        click.echo(f"skipped {path}: {reason}", err=True)
    skipped = len(info.problems)
    if info.mode == "unchanged":
        change = "nothing changed"
    elif info.mode == "incremental":
        change = f"{info.added:,} added, {info.updated:,} updated, {info.removed:,} removed"
    else:
        change = "full rebuild"
    items = f"{info.items:,} item{'' if info.items == 1 else 's'}"
    click.echo(
        f"Read {info.files_read:,} files ({info.files_parsed:,} parsed), indexed {items} ({change}), "
        f"skipped {skipped:,} file{'s' if skipped != 1 else ''} in {info.seconds:.1f} s "
        f"-> {index_dir / info.generation}"
    )
    if not _one_terminal():   # on a terminal, the lines on stderr above are already in view (review 22)
        for path, reason in problems:
            click.echo(f"  skipped {path}: {reason}")


def _one_terminal() -> bool:
    """Whether standard output and standard error are the same terminal."""
    try:
        return os.isatty(1) and os.isatty(2) and os.ttyname(1) == os.ttyname(2)
    except OSError:
        return False


def warm_worker(engine) -> None:
    """One search and one suggestion, so a new worker's tables are loaded before anyone asks, the
    tagger that reads bodies a query describes ("Congress") is compiled (about 3 s), and the
    completions of every one- and two-character prefix are ranked (~60 ms at 100k)."""
    try:
        warm_body_reading()
        engine.search("regulation")
        engine.suggest("re")
        engine.warm_suggestions()
    except Exception:   # no index yet, or damaged: the first request reports it
        pass


def client_budget_settings(client_share: float, threads: int) -> dict | None:
    """ClientBudget's settings for `serve` (None: no budget).

    The threads an address may hold are limited by the worker (threads - 2, counting only connections
    that sent something); a lower limit here counted requests queued for their turn and refused
    colleagues behind one address (16 at once from one address got a 429)."""
    return dict(share=client_share, max_in_flight=threads) if client_share else None


def bind_address(host: str, port: int) -> str:
    """gunicorn's bind string: "[::1]:8000" for an IPv6 host, "127.0.0.1:8000" otherwise."""
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"{host}:{port}"


@main.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True)
@click.option("--workers", type=click.IntRange(1, 32), default=min(4, os.cpu_count() or 1), show_default=True,
              help="Worker processes (one per core: searching is CPU work, and Python threads share one core).")
@click.option("--threads", type=click.IntRange(1, 64), default=16, show_default=True,
              help="Threads per worker. Searching is CPU work and one worker's threads share a core, so more "
                   "threads do not search faster; they let clients waiting out their --client-share budget "
                   "wait without blocking others.")
@click.option("--base-url", default=None,
              help="Public address for feed and page links, e.g. https://news.example.org/ "
                   "[default: the bind address]. The Host header is never used.")
@click.option("--client-share", type=click.FloatRange(0, 64), default=0.25, show_default=True,
              help="CPU seconds per second each client address may use in each worker; a client over it waits, "
                   "then gets 429. 0 turns it off (do that behind a reverse proxy: every request then has the "
                   "proxy's address; limit there instead).")
@index_option
@corpus_option
def serve_command(host: str, port: int, workers: int, threads: int, base_url: str | None, client_share: float,
                  index_dir: Path, corpus: Path) -> None:
    """Serve the web page, JSON API and feeds with gunicorn (builds the index first if there is none)."""
    from gunicorn.app.base import BaseApplication

    from searchapp.web import create_app
    from searchapp.web.security import BadBaseUrl, base_url_for_bind, parse_base_url, secure_gunicorn_errors

    base_url = base_url or base_url_for_bind(host, port)
    try:
        parse_base_url(base_url)
    except BadBaseUrl as error:
        raise click.BadParameter(str(error), param_hint="--base-url") from None
    serving, reason = serving_generation(index_dir)
    if serving is None:
        if reason:
            click.echo(f"No usable index in {index_dir} ({reason}): rebuilding it from {corpus}", err=True)
        else:
            click.echo(f"No index in {index_dir} yet: building it from {corpus}", err=True)
        build(corpus, index_dir)
    elif reason:
        click.echo(f"warning: {reason}", err=True)
    secure_gunicorn_errors()  # gunicorn's own 400/414/431/500 pages carry the security headers too
    from searchapp.web import worker

    worker_class = worker.WORKER_CLASS if worker.usable() else "gthread"
    worker.limit_per_address = bool(client_share)
    if worker_class == "gthread":
        click.echo("warning: this gunicorn lacks what the slow-client limits rely on; serving without them "
                   "(put a buffering proxy in front)", err=True)

    class Server(BaseApplication):
        def load_config(self):
            # an IPv6 host is bracketed (gunicorn read "[::]" given as ":::8000" as a bad port);
            # loglevel error: a flood of malformed requests wrote a warning line each (1.3 GB an hour)
            settings = dict(bind=bind_address(host, port), workers=workers, threads=threads, worker_class=worker_class,
                            timeout=120, graceful_timeout=10, keepalive=5, accesslog=None, loglevel="error",
                            proc_name="searchapp", limit_request_line=8190, forwarded_allow_ips="")
            for key, value in settings.items():
                self.cfg.set(key, value)

        def load(self):  # in each worker: its own searchers and caches
            from searchapp.core.service import SearchEngine
            from searchapp.processes import IdleTrimmer, defer_full_collections, limit_malloc_arenas

            limit_malloc_arenas()   # before this worker's threads allocate
            defer_full_collections()   # full garbage collections when the worker is quiet, not inside a request

            # a new generation is warmed in the background and served once ready
            budget = client_budget_settings(client_share, threads)
            engine = SearchEngine(index_dir, warm_switch=True)
            # the first search of a worker loads its tables (about 1 s at 100k items): done here in the
            # background, it is neither the first user's wait nor charged to their CPU budget
            threading.Thread(target=warm_worker, args=(engine,), daemon=True, name="searchapp-boot-warm").start()
            app = create_app(index_dir, base_url=base_url, engine=engine, client_budget=budget)
            count_requests(app, IdleTrimmer().start())   # garbage collected, freed memory given back, once a burst is over

            return app

    click.echo(f"searchapp serving {index_dir} on http://{bind_address(host, port)}/ "
               f"with {workers} worker(s) x {threads} threads", err=True)
    Server().run()


def count_requests(app, trimmer) -> None:
    """Every request of `app` begins and ends counted by `trimmer` (processes.IdleTrimmer):
    its begin is the first before-request function, so a request another one answers early
    is counted too, and teardown runs for every request, failed ones included."""
    app.before_request_funcs.setdefault(None, []).insert(0, trimmer.begin)
    app.teardown_request(lambda error: trimmer.end())


@main.command("search")
@click.argument("query", nargs=-1)
@click.option("--topic", multiple=True, help="Only this topic (repeat for any of several).")
@click.option("--provider", multiple=True, help="Only this provider (repeat for any of several).")
@click.option("--year", multiple=True, help="Only this year (repeat for any of several).")
@click.option("--jurisdiction", multiple=True,
              help="Only items about this jurisdiction, e.g. 'European Union', California (repeatable).")
@click.option("--regulator", multiple=True, help="Only items about this regulator, e.g. CNIL, FTC (repeatable).")
@click.option("--from", "date_from", type=click.DateTime(["%Y-%m-%d"]), help="Published on or after (YYYY-MM-DD).")
@click.option("--to", "date_to", type=click.DateTime(["%Y-%m-%d"]), help="Published on or before (YYYY-MM-DD).")
@click.option("--sort", type=click.Choice(SORTS), default="relevance", show_default=True,
              help=f"recent = relevance halved for every {RECENCY_HALF_LIFE_DAYS} days of age.")
@click.option("--limit", type=click.IntRange(1, MAX_PER_PAGE), default=10, show_default=True, help="Results per page.")
@click.option("--page", type=click.IntRange(1, None), default=1, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the results page as JSON (the web API's shape).")
@click.option("--no-autocorrect", "exact", is_flag=True,
              help="Search the words as typed, even when a spelling correction would find more.")
@index_option
def search_command(query, topic, provider, year, jurisdiction, regulator, date_from, date_to, sort, limit, page,
                   as_json, exact, index_dir) -> None:
    """Search the index: words, "phrases", OR, NOT/-word, title:, provider:, topic:."""
    filters = Filters(
        topic=topic, provider=provider, year=year, jurisdiction=jurisdiction, regulator=regulator,
        date_from=date_from.date() if date_from else None,
        date_to=date_to.date() if date_to else None,
    )
    serving, reason = serving_generation(index_dir)
    if serving is None and reason:
        raise click.ClickException(f"{reason} (index folder {index_dir})")
    if reason:
        click.echo(f"warning: {reason}", err=True)
    try:
        engine = SearchEngine(index_dir)
    except NoIndex as error:
        raise click.ClickException(str(error)) from None
    try:
        results = engine.search(" ".join(query), filters, sort=sort, page=page, per_page=limit,
                                autocorrect=not exact)
    except QueryError as error:
        raise QueryProblem(str(error)) from None
    except NoIndex as error:   # its only generation failed while answering (a full check confirmed the damage)
        raise click.ClickException(str(error)) from None
    finally:
        engine.close()
    if as_json:
        click.echo(json.dumps(results.to_dict(), ensure_ascii=False, indent=2))
    else:
        click.echo(format_results(results, color=sys.stdout.isatty()))


def _plain(fragment: str, color: bool) -> str:
    """Highlighted HTML as terminal text: an escaped control character (&#27;)
    in the corpus is dropped after unescaping, so only our own bold codes remain."""
    pieces = re.split(r"(</?mark>)", fragment)
    bold = {"<mark>": "\x1b[1m", "</mark>": "\x1b[22m"} if color else {"<mark>": "", "</mark>": ""}
    return "".join(bold[p] if p in bold else CONTROLS.sub("", html.unescape(_TAG.sub("", p))) for p in pieces)


def format_results(results, color: bool = False) -> str:
    """The readable listing: a headline, ranked items, then the facet counts."""
    shown = f'for "{results.query}"' if results.query else "in the index"
    lines = [f"{results.total:,} result{'s' if results.total != 1 else ''} {shown} ({results.took_ms:.0f} ms)"]
    if results.corrected_from:
        lines.append(f'showing results for "{results.query}"; search instead for "{results.corrected_from}" '
                     "with --no-autocorrect")
    elif results.did_you_mean:
        lines.append(f'did you mean "{results.did_you_mean}"?')
    for reading in results.interpreted:
        lines.append(f'"{reading.text}" also finds items tagged {reading.facet} {reading.value}')
    if results.relaxed:
        lines.append(
            f"{results.total_all_words:,} match all words; "
            f"{results.total - results.total_all_words:,} more match some of them"
        )
    if results.total:
        lines.append(f"page {results.page} of {results.pages}, sorted by {results.sort}")
    lines.append("")
    start = (results.page - 1) * results.per_page
    related_from = next((i for i, hit in enumerate(results.hits) if hit.related), len(results.hits))
    for i, hit in enumerate(results.hits):
        if i == related_from:   # listed apart and numbered from 1, as on the page
            lines.append("Related articles (not counted: they share the words of the results above)")
        n = i - related_from + 1 if i >= related_from else start + i + 1
        marker = "  [related]" if hit.related else "" if hit.matched_all else "  [some words]"
        lines.append(f"{n:>3}. {_plain(hit.title_html, color)}{marker}")
        meta = [hit.published[:10] if hit.published else "undated", hit.provider.name]
        if hit.topics:
            meta.append(", ".join(hit.topics))
        lines.append("     " + " · ".join(m for m in meta if m))
        # the one rule for corpus URLs (control characters never reach the terminal)
        lines.append(f"     {public_url(hit.url) or '(no usable link)'}")
        if hit.snippet:
            lines.append(f"     {_plain(hit.snippet, color)}")
        if hit.jurisdictions or hit.regulators:
            lines.append("     about: " + ", ".join(hit.jurisdictions + hit.regulators))
        if hit.also_reported_by:
            lines.append("     also reported by: " + ", ".join(
                r.provider or public_url(r.url) or "another outlet" for r in hit.also_reported_by))
        lines.append("")
    for facet, values in results.facets.items():
        if facet == "month":
            continue  # the web page draws it as a timeline; --json has it
        if values:
            listed = " · ".join(f"{'*' if v.selected else ''}{v.value} ({v.count})" for v in values[:12])
            lines.append(f"{facet.capitalize()}: {listed}")
    return "\n".join(lines).rstrip() + "\n"
