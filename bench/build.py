"""Build benchmark: full build, then incremental runs, with wall time, items/s
and peak memory summed over every process of the build.

    python bench/build.py CORPUS [--work /tmp/build-bench] [--skip-incremental] [--json out.json]

CORPUS is never modified: the steps run on a copy.
Steps: `full` (searchapp index --full), `unchanged` (nothing changed),
`add10` (10 new files), `change1pct` (1% of the files rewritten). Peak
memory is the largest sum, over the build process and its children, of
their resident sets, sampled every 50 ms (shared copy-on-write pages are
counted in every process: an upper bound).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
PROJECT = BENCH.parent
sys.path[:0] = [str(PROJECT), str(BENCH)]

import make_corpus  # noqa: E402


def _tree_rss_mb(root: int) -> float:
    """Resident set of `root` and all its descendants, in MB."""
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
                    break
            for task in Path(f"/proc/{pid}/task").iterdir():
                todo.extend(int(c) for c in (task / "children").read_text().split())
        except (OSError, ValueError):
            continue
    return total / 1024


def run(command: list[str]) -> dict:
    """Wall time, peak summed RSS and the last output line of one command."""
    started = time.perf_counter()
    proc = subprocess.Popen(command, cwd=PROJECT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    peak = [0.0]

    def sample():
        while proc.poll() is None:
            peak[0] = max(peak[0], _tree_rss_mb(proc.pid))
            time.sleep(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    output = proc.stdout.read().decode("utf-8", "replace")
    proc.wait()
    seconds = time.perf_counter() - started
    sampler.join()
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({proc.returncode}):\n{output[-3000:]}")
    lines = output.strip().splitlines()
    return {"seconds": round(seconds, 2), "peak_mb": round(peak[0]), "output": lines[-1] if lines else ""}


def index(corpus: Path, index_dir: Path, *extra: str) -> dict:
    return run([sys.executable, "-m", "searchapp", "index", "--corpus", str(corpus), "--index", str(index_dir),
                *extra])


def add_files(corpus: Path, count: int) -> None:
    """`count` new files: copies of existing ones under new URLs."""
    sources = sorted(corpus.rglob("*.md"))[:count]
    for n, path in enumerate(sources):
        text = path.read_text("utf-8").replace("webUrl: ", f"webUrl: https://added.example/{n}/", 1)
        (path.parent / f"added-{n}.md").write_text(text, "utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus", type=Path)
    parser.add_argument("--work", type=Path, default=Path("/tmp/build-bench"))
    parser.add_argument("--skip-incremental", action="store_true")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    files = sum(1 for _ in args.corpus.rglob("*.md"))
    work = args.work
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    corpus = work / "corpus"
    subprocess.run(["cp", "-a", str(args.corpus), str(corpus)], check=True)
    index_dir = work / "index"
    results: dict = {"corpus": str(args.corpus), "files": files}
    results["full"] = index(corpus, index_dir, "--full")
    print(f"full: {results['full']}", flush=True)
    if not args.skip_incremental:
        results["unchanged"] = index(corpus, index_dir)
        print(f"unchanged: {results['unchanged']}", flush=True)
        add_files(corpus, 10)
        results["add10"] = index(corpus, index_dir)
        print(f"add10: {results['add10']}", flush=True)
        changed = make_corpus.change_fraction(corpus, 0.01)
        results["change1pct"] = {**index(corpus, index_dir), "files_changed": len(changed)}
        print(f"change1pct: {results['change1pct']}", flush=True)
    full = results["full"]
    full["items_per_s"] = round(files / full["seconds"], 1)
    for step in ("unchanged", "add10", "change1pct"):
        if step in results:
            results[step]["time_vs_full_pct"] = round(100 * results[step]["seconds"] / full["seconds"], 2)
            results[step]["peak_vs_full_pct"] = round(100 * results[step]["peak_mb"] / full["peak_mb"], 1)
    print(json.dumps(results, indent=1))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
