"""CPU time and memory of a process tree, read from /proc (Linux only, no psutil)."""
from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Optional

TICK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")
MIB = 1024 * 1024


def children(pid: int) -> list[int]:
    """Direct children of ``pid``: /proc/PID/task/*/children, else a scan of /proc."""
    found: list[int] = []
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            found += [int(x) for x in (task / "children").read_text().split()]
        return found
    except FileNotFoundError:
        pass  # no CONFIG_PROC_CHILDREN, or pid is gone: scan for the parent id instead
    except OSError:
        return []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and _stat_fields(int(entry.name))[1:2] == [str(pid)]:
            found.append(int(entry.name))
    return found


def tree(pid: int) -> list[int]:
    """``pid`` and all its descendants, parents first."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop(0)
        out.append(p)
        todo += children(p)
    return out


def _stat_fields(pid: int) -> list[str]:
    """Fields of /proc/PID/stat after the command name (field 3, ``state``, is index 0)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return []
    return text[text.rindex(")") + 2:].split()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of one process (0 if it is gone)."""
    fields = _stat_fields(pid)
    if not fields:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICK  # utime, stime


def tree_cpu(pids: list[int]) -> dict[int, float]:
    """CPU seconds per process."""
    return {pid: cpu_seconds(pid) for pid in pids}


def machine_ticks() -> dict[str, int]:
    """Machine-wide CPU ticks from /proc/stat: busy, idle (with iowait) and steal."""
    values = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    user, nice, system, idle, iowait, irq, softirq, steal = (values + [0] * 8)[:8]
    return {"busy": user + nice + system + irq + softirq, "idle": idle + iowait, "steal": steal}


def machine_share(before: dict[str, int], after: dict[str, int], seconds: float) -> dict[str, float]:
    """Each kind of machine-wide CPU time between two ``machine_ticks``, in % of one core."""
    return {k: round(100 * (after[k] - before[k]) / TICK / seconds, 1) for k in before}


def rss_bytes(pid: int) -> int:
    """Resident set size of one process (0 if it is gone)."""
    try:
        return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE
    except (OSError, IndexError, ValueError):
        return 0


class MemorySampler:
    """Samples the RSS of a process tree in a thread; keeps the peaks."""

    def __init__(self, root: int, interval: float = 0.05) -> None:
        self.root = root
        self.interval = interval
        self.peak_total = 0
        self.peak_by_pid: dict[int, int] = {}
        self.last_by_pid: dict[int, int] = {}
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None

    def sample(self) -> int:
        """Take one sample now; returns the summed RSS."""
        by_pid = {pid: rss_bytes(pid) for pid in tree(self.root)}
        total = sum(by_pid.values())
        self.last_by_pid = by_pid
        self.peak_total = max(self.peak_total, total)
        for pid, rss in by_pid.items():
            self.peak_by_pid[pid] = max(self.peak_by_pid.get(pid, 0), rss)
        return total

    def reset(self) -> None:
        """Forget the peaks (to measure one phase)."""
        self.peak_total = 0
        self.peak_by_pid = {}

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()

    def start(self) -> "MemorySampler":
        """Sample in the background until ``stop``."""
        self.sample()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop sampling (one last sample first)."""
        self.sample()
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
