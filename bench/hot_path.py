"""Where a worker's CPU goes under load: py-spy samples of both workers, top functions.

Run: ``.venv/bin/python bench/hot_path.py [--stream] [--count N] [--top K]`` (py-spy from
PyPI: ``.venv/bin/pip install py-spy``; nginx as in ``targets_bench.py``).

Starts nginx answering as Gemini's own API and Balancer under gunicorn (two gevent workers),
sends ``count`` OpenAI chat completions (or 20-event streams) at concurrency 16, and has
py-spy sample both workers meanwhile. Prints the functions with the most samples of their
own ("own", what ``py-spy top`` sorts by) and with the most samples under them ("total").
Prints figures only.
"""
from __future__ import annotations

import argparse
import collections
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Optional

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.procstat import children  # noqa: E402
from bench.proxy_bench import Target, raw_request, run_load  # noqa: E402
from bench.targets_bench import (CPU_CONCURRENCY, TOKEN, Side, _spec, start_nginx,  # noqa: E402
                                 start_side)

PY_SPY = Path(sys.executable).parent / "py-spy"


def frames_of(line: str) -> tuple[list[str], int]:
    """One line of py-spy's raw (collapsed) output: its frames, root first, and its count."""
    stack, _, count = line.rpartition(" ")
    frames = []
    for frame in stack.split(";"):
        # "function (path/to/file.py:123)": the line number apart, one entry per function.
        name, _, where = frame.partition(" (")
        path = where.rsplit(":", 1)[0]
        short = "/".join(Path(path).parts[-2:]) if path else ""
        frames.append(f"{name} ({short})")
    return frames, int(count)


def tally(raw: str) -> tuple[collections.Counter, collections.Counter, int]:
    """Samples per function: of its own (leaf), and under it (each function once a stack)."""
    own: collections.Counter = collections.Counter()
    total: collections.Counter = collections.Counter()
    samples = 0
    for line in raw.splitlines():
        if not line.strip():
            continue
        frames, count = frames_of(line)
        samples += count
        own[frames[-1]] += count
        for frame in set(frames):
            total[frame] += count
    return own, total, samples


def main(argv: Optional[list[str]] = None) -> None:
    """Start everything, load it while py-spy samples, print the top entries."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stream", action="store_true", help="20-event streams, not whole answers")
    parser.add_argument("--count", type=int, default=20000, help="requests to send")
    parser.add_argument("--top", type=int, default=25, help="entries to print")
    parser.add_argument("--raw", type=Path, help="also keep py-spy's collapsed stacks here")
    args = parser.parse_args(argv)
    if not PY_SPY.exists() and not shutil.which("py-spy"):
        raise SystemExit(f"py-spy is not installed: {Path(sys.executable).parent}/pip install py-spy")
    spy = str(PY_SPY if PY_SPY.exists() else shutil.which("py-spy"))
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="balancer-hot-")))
        side = Side("this", ROOT)
        start_side(side, tmp, start_nginx(stack, tmp), stack)
        port = side.port
        target = Target("this", port, "/v1/chat/completions", TOKEN)
        spec = _spec(raw_request(port, target.path, TOKEN, args.stream), args.count,
                     CPU_CONCURRENCY, args.stream, 4 * CPU_CONCURRENCY)
        outs = []
        spies = []
        for pid in children(side.proc.pid):
            out = tmp / f"spy-{pid}.txt"
            outs.append(out)
            spies.append(subprocess.Popen(
                [spy, "record", "-p", str(pid), "-r", "500", "-f", "raw", "-o", str(out), "--nonblocking"],
                stdout=subprocess.DEVNULL, stderr=open(str(out) + ".err", "w")))
        time.sleep(1.0)
        run_load(spec, target, {}, timeout=600)
        for proc in spies:
            proc.send_signal(2)  # SIGINT: py-spy writes what it has and ends
        for proc in spies:
            proc.wait(30)
        for p in outs:
            err = Path(str(p) + ".err")
            if not p.exists():
                raise SystemExit(f"py-spy wrote nothing: {err.read_text()}")
        raw = "\n".join(p.read_text() for p in outs)
    if args.raw:
        args.raw.write_text(raw)
    own, total, samples = tally(raw)
    what = "20-event streams" if args.stream else "whole answers"
    print(f"\n{args.count} OpenAI chat completions ({what}) at c={CPU_CONCURRENCY}, "
          f"{samples} samples of both workers (idle included)")
    for title, counts in (("own", own), ("total", total)):
        print(f"\n{title:>6} %  function (file)")
        for frame, n in counts.most_common(args.top):
            print(f"{100 * n / samples:8.1f}  {frame}")


if __name__ == "__main__":
    main()
