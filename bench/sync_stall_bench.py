"""How long a worker's sync round holds its event loop, which every request shares.

Run: ``.venv/bin/python bench/sync_stall_bench.py [--keys N] [--rounds N] [--root PATH]``.

Under gevent, as in a gunicorn worker: a Balancer app on a throw-away SQLite database with
``--keys`` keys (all written moments ago, so every sync reads them again, as it does the
newest rows of a live database), its database thread started as the worker starts it. A
greenlet ticks every 0.2 ms meanwhile; the longest gap between its ticks during a sync round
is the longest a request in flight could have waited for the loop; beside it, the same
measure over an idle loop (its floor: the loop's poll waits whole milliseconds). ``--root`` runs the same
on another checkout of Balancer (an earlier commit, say): each root in its own process,
alternating. Prints figures only.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

#: Runs in a process of its own under gevent; prints one JSON line.
PROBE = r"""
from gevent import monkey; monkey.patch_all()
import json, os, sys, time
import gevent
sys.path.insert(0, os.environ["ROOT"])
from balancer import create_app
from balancer.config import Config
from balancer.dbthread import DatabaseThread
from balancer.services import keys as key_service

app = create_app(Config(dict(os.environ)))
services = app.extensions["balancer"].services
services.bootstrap()
services._db_thread = DatabaseThread.start(app)
with app.app_context():
    key_service.add_keys(app.extensions["balancer"],
                         [f"AIzaSy{i:033d}" for i in range(int(os.environ["KEYS"]))])
services.sync()
def longest_gap(work):
    # The longest the ticking greenlet waited between ticks while work() ran.
    worst, done = [0.0], [False]
    def tick():
        last = time.perf_counter()
        while not done[0]:
            gevent.sleep(0.0002)
            now = time.perf_counter()
            worst[0] = max(worst[0], now - last)
            last = now
    ticker = gevent.spawn(tick)
    gevent.sleep(0.005)
    work()
    done[0] = True
    ticker.join()
    return worst[0]

gaps, walls, idle = [], [], []
for _ in range(int(os.environ["ROUNDS"])):
    began = [0.0]
    def sync():
        began[0] = time.perf_counter()
        services.sync()
        walls.append(time.perf_counter() - began[0])
    gaps.append(longest_gap(sync))
    # The same wait with nothing to do: the ticker's own floor (the loop's poll
    # rounds its timeout up to whole milliseconds).
    idle.append(longest_gap(lambda: gevent.sleep(walls[-1])))
print(json.dumps({"gaps": gaps, "walls": walls, "idle": idle}))
"""


def measure(root: Path, keys: int, rounds: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="balancer-sync-") as folder:
        env = {**os.environ, "ROOT": str(root), "KEYS": str(keys), "ROUNDS": str(rounds),
               "DATABASE_URL": f"sqlite:///{folder}/b.db", "SECRET_KEY": "s" * 40,
               "BALANCER_INSTANCE_PATH": folder, "PROMETHEUS_MULTIPROC_DIR": folder,
               "LOG_LEVEL": "WARNING", "FLASK_APP": "balancer"}
        flask = Path(sys.executable).parent / "flask"
        subprocess.run([str(flask), "db", "upgrade"], cwd=root, env=env, check=True,
                       capture_output=True)
        out = subprocess.run([sys.executable, "-c", PROBE], cwd=root, env=env, check=True,
                             capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keys", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=100)
    parser.add_argument("--root", type=Path, action="append", default=[],
                        help="another checkout to measure beside this one")
    parser.add_argument("--repeat", type=int, default=2, help="runs per root, alternating")
    args = parser.parse_args()
    roots = [ROOT, *args.root]
    found: dict[Path, dict[str, list[float]]] = {r: {"gaps": [], "walls": [], "idle": []}
                                                 for r in roots}
    for _ in range(args.repeat):
        for root in roots:
            got = measure(root, args.keys, args.rounds)
            for name in ("gaps", "walls", "idle"):
                found[root][name] += got[name]
    print(f"sync rounds with {args.keys} keys read again each round, "
          f"{args.rounds * args.repeat} rounds per checkout (ms)")
    print(f"{'checkout':<32} {'loop held: median':>18} {'p90':>7} {'max':>7} "
          f"{'idle loop: median':>18} {'round: median':>14}")
    for root, got in found.items():
        gaps = sorted(g * 1e3 for g in got["gaps"])
        walls = sorted(w * 1e3 for w in got["walls"])
        print(f"{str(root)[-32:]:<32} {statistics.median(gaps):>18.2f} "
              f"{gaps[int(len(gaps) * 0.9)]:>7.2f} {gaps[-1]:>7.2f} "
              f"{statistics.median(got['idle']) * 1e3:>18.2f} {statistics.median(walls):>14.2f}")
    print("idle loop: the longest gap between ticks of an idle loop over a round's time, "
          "the floor of this measure")


if __name__ == "__main__":
    main()
