"""The table ``proxy_bench.py`` prints: figures, targets beside them, reference figures."""
from __future__ import annotations

from typing import Optional

from bench.procstat import MIB

REFERENCES = (
    "LiteLLM proxy       ~11 ms CPU/request  (~170 req/s with two workers, ~1.1 GB)",
    "gemini-balance      ~34 ms CPU/request  (~30 req/s)",
)


def _f(value: Optional[float], digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _cpu_ms_per_request(phase: dict, tree: str) -> Optional[float]:
    cpu = sum(phase["cpu_s_by_tree"].get(tree, {}).values())
    return cpu * 1000 / phase["sent"] if phase.get("sent") else None


def _share(phase: dict, tree: str) -> float:
    """CPU use of a watched process tree during the phase, in % of one core."""
    return 100 * sum(phase["cpu_s_by_tree"].get(tree, {}).values()) / phase["elapsed_s"]


def _errors(phase: dict) -> str:
    bad = dict(phase.get("errors") or {})
    if phase.get("incomplete"):
        bad["incomplete"] = phase["incomplete"]
    if phase.get("timed_out"):
        bad["timed out"] = 1
    return ", ".join(f"{k}: {v}" for k, v in bad.items()) or "none"


def _verdict(value: Optional[float], limit: float, below: bool = True) -> str:
    if value is None:
        return "-"
    return "met" if (value < limit if below else value >= limit) else "MISSED"


def _streams_verdict(s: dict) -> str:
    if s["ok"] >= 1000:
        return "met"
    if s["ok"] == s["streams"]:
        return f"all {s['streams']} held; run --streams 1000 for the target"
    return "MISSED"


def figures(r: dict) -> dict:
    """The headline numbers, computed once for the table and the JSON file."""
    d_lat, b_lat = r["direct_latency"]["latency_ms"], r["balancer_latency"]["latency_ms"]
    tp = r["balancer_throughput"]
    added = b_lat["p50"] - d_lat["p50"] if b_lat["p50"] is not None else None
    s = r.get("streams") or {}
    return {
        "added_latency_p50_ms": added,
        "cpu_ms_per_request": _cpu_ms_per_request(tp, "balancer"),
        # The fake's own cost per answer (direct phase): a yardstick of this machine's speed.
        "fake_cpu_ms_per_request": _cpu_ms_per_request(r["direct_throughput"], "fake"),
        "streams_ok": s.get("ok"),
        "peak_rss_total_mib": r["memory"]["peak_total"] / MIB,
    }


ROW = "{:<40} {:>10} {:>10}   {:<16} {}"


def print_report(r: dict) -> None:
    """Print every figure as one table, then notes on where the CPU went."""
    m = r["meta"]
    print()
    print(f"Balancer proxy benchmark: {m['workers']} gevent worker(s), 20 fake keys, "
          f"{m['cores']} cores, Python {m['python']}{' (--quick)' if m['quick'] else ''}")
    wrk = "installed, not used" if m["wrk_installed"] else "not installed"
    print(f"load generator: {m['loadgen']}; wrk {wrk}")
    print()
    print(ROW.format("", "direct", "Balancer", "target", ""))
    _main_rows(r)
    if r.get("streams"):
        _stream_rows(r["streams"])
    print()
    print("errors: " + "; ".join(f"{name}: {_errors(r[name])}" for name in (
        "direct_latency", "balancer_latency", "direct_ttfb", "balancer_ttfb",
        "direct_throughput", "balancer_throughput")))
    _cpu_notes(r)
    print()
    if m["busy_before_pct"] > 20:
        print(f"NOTE: before the run the machine was already {m['busy_before_pct']:.0f}% busy "
              "(other processes): req/s and latency are noisy; CPU ms per request less so.\n")
    print("for scale (published figures, other hardware):")
    for line in REFERENCES:
        print(f"  {line}")
    print(f"\n({m['seconds']} s in all)")


def _main_rows(r: dict) -> None:
    fig, m = r["figures"], r["meta"]
    for label, key in (("latency p50, c=1 (ms)", "p50"), ("latency p99, c=1 (ms)", "p99")):
        print(ROW.format(label, _f(r["direct_latency"]["latency_ms"][key]),
                         _f(r["balancer_latency"]["latency_ms"][key]), "", ""))
    print(ROW.format("added latency p50 (ms)", "", _f(fig["added_latency_p50_ms"]), "< 2 ms",
                     _verdict(fig["added_latency_p50_ms"], 2.0)))
    for label, key in (("stream TTFB p50, c=1 (ms)", "p50"), ("stream TTFB p99, c=1 (ms)", "p99")):
        print(ROW.format(label, _f(r["direct_ttfb"]["ttfb_ms"][key]),
                         _f(r["balancer_ttfb"]["ttfb_ms"][key]), "", ""))
    dt, bt = r["direct_throughput"], r["balancer_throughput"]
    print(ROW.format(f"throughput, c={m['counts']['conc']}, {bt['sent']} req (req/s)",
                     _f(dt["rps"], 0), _f(bt["rps"], 0), "", ""))
    print(ROW.format("latency p50 / p99 at that load (ms)",
                     f"{_f(dt['latency_ms']['p50'], 1)}/{_f(dt['latency_ms']['p99'], 1)}",
                     f"{_f(bt['latency_ms']['p50'], 1)}/{_f(bt['latency_ms']['p99'], 1)}", "", ""))
    print(ROW.format("CPU per request (ms): the fake; Balancer",
                     _f(fig["fake_cpu_ms_per_request"]), _f(fig["cpu_ms_per_request"]), "< 2 ms",
                     _verdict(fig["cpu_ms_per_request"], 2.0)))
    mem = r["memory"]
    workers = "+".join(f"{w / MIB:.0f}" for w in mem["workers_peak"])
    replaced = " (A WORKER WAS REPLACED)" if mem["worker_replaced"] else ""
    print(ROW.format("peak RSS, master + workers (MiB)", "", _f(fig["peak_rss_total_mib"], 0), "",
                     f"master {mem['master_peak'] / MIB:.0f}, workers {workers}{replaced}"))


def _stream_rows(s: dict) -> None:
    print(ROW.format(f"streams held by 1 worker ({s['chunks']}x{s['chunk_delay']}s)", "",
                     f"{s['ok']}/{s['streams']}", "1000 of 1000", _streams_verdict(s)))
    per = (s["worker_rss_peak"] - s["worker_rss_idle"]) / max(1, s["streams"]) / 1024
    print(ROW.format("  worker RSS idle -> holding them (MiB)", "",
                     f"{s['worker_rss_idle'] / MIB:.0f}->{s['worker_rss_peak'] / MIB:.0f}", "",
                     f"~{per:.0f} KiB per stream"))
    print(ROW.format("  TTFB p50 / p99 under that load (ms)", "",
                     f"{_f(s['ttfb_ms']['p50'], 0)}/{_f(s['ttfb_ms']['p99'], 0)}", "",
                     f"whole run {s['elapsed_s']:.1f} s"))
    replaced = "; THE WORKER WAS REPLACED" if s.get("worker_replaced") else ""
    print(ROW.format("  failures", "", "", "",
                     f"{_errors(s)}; unfinished: {s['unfinished']}{replaced}"))
    for line in s.get("log_tail", []):
        print(f"    | {line}")


def _cpu_notes(r: dict) -> None:
    cores = r["meta"]["cores"]
    print(f"where the CPU went in the throughput phases (% of one core; {cores} cores = "
          f"{100 * cores}%):")
    for name, phase in (("direct", r["direct_throughput"]), ("Balancer", r["balancer_throughput"])):
        secs = phase["elapsed_s"]
        parts = [f"load generator {100 * phase['cpu_s'] / secs:.0f}%",
                 f"fake {_share(phase, 'fake'):.0f}%"]
        if name == "Balancer":
            each = ", ".join(f"{100 * v / secs:.0f}%"
                             for v in phase["cpu_s_by_tree"]["balancer"].values())
            parts.append(f"Balancer {_share(phase, 'balancer'):.0f}% (master, workers: {each})")
        mc = phase["machine_cpu_pct"]
        ours = phase["cpu_s"] + sum(sum(t.values()) for t in phase["cpu_s_by_tree"].values())
        rest = max(0.0, mc["busy"] - 100 * ours / secs)
        print(f"  {name:<9} " + "; ".join(parts))
        print(f"  {'':<9} whole machine: busy {mc['busy']:.0f}% (everything else, kernel "
              f"included: {rest:.0f}%), idle {mc['idle']:.0f}%, steal {mc['steal']:.0f}%")
