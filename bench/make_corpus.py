"""Generate a large, deterministic news corpus for benchmarks.

    python bench/make_corpus.py 100000 /tmp/corpus-100k [--source ../shared/corpus] [--seed 7]

Every generated file is in our real format (YAML front matter, optional
body) and is built by recombining the real items of the source corpus:
titles are spliced from two real titles, excerpts from real sentences,
providers and topic lists are drawn with their real frequencies, related
lists point at other generated items, and dates are spread over ten years.
So term, facet and length distributions look like news, not random words.
The same N, source and seed always give byte-identical files.

`change_fraction(out_dir, 0.01)` rewrites 1% of the files (new excerpt and
date), and `add_new(out_dir, 10)` adds 10 files dated after every other one
(listing recent items), for incremental-reindex benchmarks.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import re
import sys
from dataclasses import dataclass
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT))

from searchapp.ingest.reader import read_corpus  # noqa: E402

DEFAULT_SOURCE = PROJECT.parent / "shared" / "corpus"
START = dt.datetime(2015, 1, 1, tzinfo=dt.timezone.utc)
SPAN_SECONDS = 10 * 365 * 24 * 3600
SENTENCE = re.compile(r"(?<=[.!?])\s+")


@dataclass(frozen=True)
class Source:
    """The real material generated items are recombined from."""

    stories: list[tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]]  # title words, sentences, topics
    sentences: list[str]
    providers: list[tuple[str, str]]
    bodies: list[str]


@dataclass(frozen=True)
class Spec:
    number: int
    url: str
    title: str
    excerpt: str
    published: dt.datetime
    provider: tuple[str, str]
    topics: tuple[str, ...]
    body: str
    quality: int
    heat: int


def load_source(source_dir: Path) -> Source:
    items = read_corpus(source_dir).items
    if not items:
        raise SystemExit(f"no news items in {source_dir}")
    stories = [
        (tuple(item.title.split()), tuple(s for s in SENTENCE.split(item.excerpt) if len(s) > 20), item.topics)
        for item in items
        if item.title and item.topics
    ]
    sentences = [s for story in stories for s in story[1]]
    providers = [(item.provider.name or item.provider.domain, item.provider.domain) for item in items]
    bodies = [item.body for item in items if item.body]
    return Source(stories, sentences, providers, bodies)


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:60] or "item"


def make_spec(rng: random.Random, source: Source, number: int) -> Spec:
    # Title, lead sentence and topics come from one real story (so topics and
    # words stay correlated), spliced with the end of another story's title.
    (first, lead, topics), (second, _, _) = rng.choice(source.stories), rng.choice(source.stories)
    cut_a = max(1, len(first) // 2 + rng.randint(-1, 1))
    cut_b = min(len(second) - 1, len(second) // 2 + rng.randint(-1, 1))
    title = " ".join(first[:cut_a] + second[max(cut_b, 0):]) if rng.random() < 0.7 else " ".join(first)
    extra = [rng.choice(source.sentences) for _ in range(rng.choice((0, 1, 1, 2)))]
    excerpt = " ".join(list(lead[:1]) + extra)
    name, domain = rng.choice(source.providers)
    published = START + dt.timedelta(seconds=rng.randrange(SPAN_SECONDS))
    body = rng.choice(source.bodies) if source.bodies and rng.random() < 0.03 else ""
    return Spec(
        number=number,
        url=f"https://{domain or 'news.example'}/bench/{number:07d}-{slug(title)}",
        title=title,
        excerpt=excerpt,
        published=published,
        provider=(name, domain),
        topics=topics,
        body=body,
        quality=rng.randint(0, 100),
        heat=rng.choice((-1, rng.randint(0, 100))),
    )


def q(text: str) -> str:
    """A YAML double-quoted scalar (JSON strings are valid YAML)."""
    return json.dumps(text, ensure_ascii=False)


def stamp(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def render(spec: Spec, related: list[Spec]) -> str:
    name, domain = spec.provider
    lines = [
        "---",
        "category: news",
        f"title: {q(spec.title)}",
        f"excerpt: {q(spec.excerpt)}",
        f"publishedDateTime: {stamp(spec.published)}",
        f"webUrl: {q(spec.url)}",
        "type: article",
        f"quality: {spec.quality}",
        f"heat: {spec.heat}",
        "published: true",
        "provider:",
        f"  name: {q(name)}",
        f"  domain: {q(domain)}",
        "topics:",
        *(f"  - {q(topic)}" for topic in spec.topics),
    ]
    if related:
        lines.append("related:")
        for other in related:
            lines += [
                f"  - title: {q(other.title)}",
                f"    excerpt: {q(other.excerpt)}",
                f"    publishedDateTime: {stamp(other.published)}",
                f"    webUrl: {q(other.url)}",
                "    type: article",
                "    provider:",
                f"      name: {q(other.provider[0])}",
                f"      domain: {q(other.provider[1])}",
                f"    quality: {other.quality}",
            ]
    lines.append("---")
    text = "\n".join(lines) + "\n"
    if spec.body:
        text += "\n" + spec.body + "\n"
    return text


def path_for(out_dir: Path, spec: Spec) -> Path:
    day = spec.published
    return out_dir / f"{day:%Y}" / f"{day:%m}" / f"{day:%Y-%m-%d}-{spec.number:07d}.md"


def generate(count: int, out_dir: Path, source_dir: Path = DEFAULT_SOURCE, seed: int = 7) -> list[Path]:
    """Write `count` news files under `out_dir`; each file is one distinct item."""
    source = load_source(source_dir)
    rng = random.Random(seed)
    specs = [make_spec(rng, source, number) for number in range(count)]
    paths = []
    for spec in specs:
        related = []
        if count > 1 and rng.random() < 0.6:
            # Related coverage is usually close in time: neighbours by number.
            for _ in range(rng.randint(1, 4)):
                other = specs[(spec.number + rng.randint(1, 50)) % count]
                if other is not spec and other not in related:
                    related.append(other)
        path = path_for(out_dir, spec)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(render(spec, related), encoding="utf-8")
        paths.append(path)
    return paths


def change_fraction(out_dir: Path, fraction: float, seed: int = 11) -> list[Path]:
    """Edit a seeded sample of files in place: a new sentence in the excerpt."""
    paths = sorted(out_dir.rglob("*.md"))
    rng = random.Random(seed)
    changed = rng.sample(paths, max(1, round(len(paths) * fraction)))
    for path in changed:
        text = path.read_text(encoding="utf-8")
        text = text.replace('\nexcerpt: "', '\nexcerpt: "Updated coverage follows. ', 1)
        path.write_text(text, encoding="utf-8")
    return changed


def add_new(out_dir: Path, count: int, source_dir: Path = DEFAULT_SOURCE, seed: int = 13) -> list[Path]:
    """`count` new files as news arrives: dated after every existing file (so
    their paths sort last), each listing 1 to 4 of the 200 newest existing
    items, as the generator's files list their neighbours in time."""
    from searchapp.ingest.reader import parse_file

    source = load_source(source_dir)
    rng = random.Random(seed)
    paths = sorted(out_dir.rglob("*.md"))
    recent = []
    for path in paths[-200:]:
        own = parse_file(path, path.name).own
        recent.append(Spec(number=-1, url=own.url, title=own.title, excerpt=own.excerpt, published=own.published,
                           provider=(own.provider.name, own.provider.domain), topics=own.topics, body="",
                           quality=own.quality or 0, heat=own.heat or 0))
    newest = max(spec.published for spec in recent)
    written = []
    for n in range(count):
        spec = make_spec(rng, source, len(paths) + n)
        spec = Spec(**{**spec.__dict__, "published": newest + dt.timedelta(hours=n + 1)})
        related = rng.sample(recent, rng.randint(1, 4))
        path = path_for(out_dir, spec)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(render(spec, related), encoding="utf-8")
        written.append(path)
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("count", type=int)
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    if args.out_dir.exists() and any(args.out_dir.iterdir()):
        raise SystemExit(f"{args.out_dir} is not empty")
    paths = generate(args.count, args.out_dir, args.source, args.seed)
    print(f"wrote {len(paths):,} files to {args.out_dir}")


if __name__ == "__main__":
    main()
