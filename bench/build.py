"""Build benchmark: full build, then incremental runs, with wall time, items/s
and peak memory summed over every process of the build.

    python bench/build.py CORPUS [--work /tmp/build-bench] [--skip-incremental] [--no-copy] [--json out.json] [--code DIR]
                                 [--steps unchanged,add10] [--keep] [--reuse] [--pycache]

`--code DIR` builds with another checkout's code (e.g. `git archive main`
unpacked), for before/after ratios measured in the same session.

CORPUS is never modified: the steps run on a copy (`--no-copy` with
`--skip-incremental`: the full build reads CORPUS in place, which it never
writes; copying a million files takes minutes).
Steps: `full` (searchapp index --full), `unchanged` (nothing changed),
`add10` (10 new files dated after every other, as news arrives: their paths
sort last, and they list recent items), `add10copies` (10 copies of existing
files under new URLs, among them by path), `change1pct` (1% of the files
rewritten). Peak
memory is the largest sum, over the build process and its children, sampled
every 0.5 s, of their resident sets (`peak_mb`: pages shared copy-on-write
after a fork count in every process, an upper bound, as measured before) and
of their proportional sets (`peak_pss_mb`: the memory really used).
`cpu_s` is the CPU time of the build and its child processes: on a machine
shared with other work, it is the figure to compare (wall time depends on the load).
"""

from __future__ import annotations

import argparse
import json
import os
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


def _tree_mb(root: int) -> tuple[float, float]:
    """Resident set (RSS: shared pages counted in every process) and
    proportional set (PSS: shared pages split between their sharers, so the
    sum is the memory really used) of `root` and all its descendants, in MB."""
    rss = pss = 0
    todo = [root]
    while todo:
        pid = todo.pop()
        try:
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Rss:"):
                    rss += int(line.split()[1])
                elif line.startswith("Pss:"):
                    pss += int(line.split()[1])
            for task in Path(f"/proc/{pid}/task").iterdir():
                todo.extend(int(c) for c in (task / "children").read_text().split())
        except (OSError, ValueError):
            continue
    return rss / 1024, pss / 1024


CODE = PROJECT   # whose searchapp the builds run
# Between memory samples. Reading smaps_rollup walks a process's page tables:
# every 50 ms it took a fifth of a core during a 1M build (more CPU than the
# build's own main process got on a loaded machine); a build's memory grows
# over seconds, not milliseconds.
SAMPLE_S = 0.5
ENV: dict[str, str] = {}   # more environment for the builds (--pycache)


def run(command: list[str]) -> dict:
    """Wall time, peak summed RSS and the last output line of one command."""
    started = time.perf_counter()
    env = dict(os.environ, PYTHONPATH=str(CODE), **ENV)
    proc = subprocess.Popen(command, cwd=CODE, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    peak = [0.0, 0.0]

    def sample():
        while proc.returncode is None and Path(f"/proc/{proc.pid}").exists():
            rss, pss = _tree_mb(proc.pid)
            peak[0], peak[1] = max(peak[0], rss), max(peak[1], pss)
            time.sleep(SAMPLE_S)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    output = proc.stdout.read().decode("utf-8", "replace")
    _, status, usage = os.wait4(proc.pid, 0)   # CPU time of the build and the children it waited for
    proc.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.perf_counter() - started
    sampler.join()
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({proc.returncode}):\n{output[-3000:]}")
    lines = output.strip().splitlines()
    return {"seconds": round(seconds, 2), "cpu_s": round(usage.ru_utime + usage.ru_stime, 2), "peak_mb": round(peak[0]), "peak_pss_mb": round(peak[1]),
            "output": lines[-1] if lines else ""}


def index(corpus: Path, index_dir: Path, *extra: str) -> dict:
    return run([sys.executable, "-m", "searchapp", "index", "--corpus", str(corpus), "--index", str(index_dir),
                *extra])


def add_copies(corpus: Path, count: int) -> None:
    """`count` new files among the existing ones (by path): copies of existing
    files under new URLs (each joins its original's story; their `related:`
    lists name existing items)."""
    sources = sorted(corpus.rglob("*.md"))[:count]
    for n, path in enumerate(sources):
        text = path.read_text("utf-8").replace("webUrl: ", f"webUrl: https://added.example/{n}/", 1)
        (path.parent / f"added-{n}.md").write_text(text, "utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus", type=Path)
    parser.add_argument("--work", type=Path, default=Path("/tmp/build-bench"))
    parser.add_argument("--skip-incremental", action="store_true")
    parser.add_argument("--no-copy", action="store_true", help="with --skip-incremental: read CORPUS in place")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--code", type=Path, default=PROJECT)
    parser.add_argument("--steps", default="unchanged,add10,add10copies,change1pct",
                        help="the incremental steps to run, in their order (a 100k rewrite step costs a full build)")
    parser.add_argument("--keep", action="store_true",
                        help="keep WORK (corpus copy, index, full.json) for --reuse")
    parser.add_argument("--reuse", action="store_true",
                        help="no copy and no full build: the steps run on what --keep left in WORK, compared "
                             "with its full build (files the steps added before are removed first)")
    parser.add_argument("--pycache", action="store_true",
                        help="keep the builds' compiled bytecode in WORK/pycache (PYTHONPYCACHEPREFIX), as an "
                             "installed package has it, instead of compiling every module in every run when "
                             "PYTHONDONTWRITEBYTECODE is set")
    args = parser.parse_args()
    global CODE
    CODE = args.code.resolve()
    files = sum(1 for _ in args.corpus.rglob("*.md"))
    work = args.work
    if args.pycache:
        ENV.update(PYTHONPYCACHEPREFIX=str(work.resolve() / "pycache"), PYTHONDONTWRITEBYTECODE="")
    if not args.reuse:
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
    if args.no_copy and not args.skip_incremental:
        parser.error("--no-copy needs --skip-incremental (the incremental steps edit the corpus)")
    corpus = args.corpus.resolve() if args.no_copy else work / "corpus"
    steps = [] if args.skip_incremental else args.steps.split(",")
    if not args.no_copy and not args.reuse:
        # Hard links when no step edits a file in place (only change1pct does):
        # copying 100k files took 9 minutes beside a 1M build reading its corpus.
        links = ["-l"] if "change1pct" not in steps else []
        subprocess.run(["cp", "-a", *links, str(args.corpus), str(corpus)], check=True)
    index_dir = work / "index"
    results: dict = {"corpus": str(args.corpus), "files": files}
    if args.reuse:
        results["full"] = json.loads((work / "full.json").read_text())
        _forget_steps(args.corpus, corpus, index_dir, results["full"]["output"])
    else:
        results["full"] = index(corpus, index_dir, "--full")
        (work / "full.json").write_text(json.dumps(results["full"]))
    print(f"full: {results['full']}", flush=True)
    for step in steps:
        extra = {}
        if step == "add10":
            make_corpus.add_new(corpus, 10)
        elif step == "add10copies":
            add_copies(corpus, 10)
        elif step == "change1pct":
            extra["files_changed"] = len(make_corpus.change_fraction(corpus, 0.01))
        elif step != "unchanged":
            parser.error(f"unknown step {step!r}")
        results[step] = {**index(corpus, index_dir), **extra}
        print(f"{step}: {results[step]}", flush=True)
    full = results["full"]
    full["items_per_s"] = round(files / full["seconds"], 1)
    full["items_per_cpu_s"] = round(files / full["cpu_s"], 1)
    for step in ("unchanged", "add10", "add10copies", "change1pct"):
        if step in results:
            results[step]["time_vs_full_pct"] = round(100 * results[step]["seconds"] / full["seconds"], 2)
            results[step]["cpu_vs_full_pct"] = round(100 * results[step]["cpu_s"] / full["cpu_s"], 2)
            results[step]["peak_vs_full_pct"] = round(100 * results[step]["peak_mb"] / full["peak_mb"], 1)
            results[step]["pss_vs_full_pct"] = round(100 * results[step]["peak_pss_mb"] / full["peak_pss_mb"], 1)
    print(json.dumps(results, indent=1))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)


def _forget_steps(original: Path, corpus: Path, index_dir: Path, full_output: str) -> None:
    """--reuse: the corpus and index as the full build left them: files not in the original corpus
    removed (in-place edits of change1pct are not undone), CURRENT back at the full build's
    generation, later generations removed. (The links the steps made and removed moved the ctime of
    the full generation's files: the first step after this hashes them again.)"""
    for path in corpus.rglob("*.md"):
        if not (original / path.relative_to(corpus)).exists():
            path.unlink()
    generation = full_output.rsplit("/", 1)[-1].strip()
    for other in index_dir.glob("gen-*"):
        if other.name != generation:
            shutil.rmtree(other)
    (index_dir / "CURRENT").write_text(generation + "\n")


if __name__ == "__main__":
    main()
