"""Pinning keys to outgoing proxies, and routing around failed ones."""
from __future__ import annotations

from collections import Counter

from balancer.upstream.proxies import ProxyChooser, ranked

PROXIES = [f"http://127.0.0.1:{port}" for port in (3128, 3129, 3130, 3131)]


def test_a_key_keeps_its_proxy_across_restarts_and_workers():
    first = [ProxyChooser().choose(PROXIES, key_id) for key_id in range(200)]
    second = [ProxyChooser().choose(list(reversed(PROXIES)), key_id) for key_id in range(200)]
    assert first == second


def test_keys_spread_over_the_proxies():
    counts = Counter(ProxyChooser().choose(PROXIES, key_id) for key_id in range(4000))
    assert set(counts) == set(PROXIES)
    assert min(counts.values()) > 800


def test_removing_a_proxy_moves_only_its_own_keys():
    before = {k: ranked(PROXIES, k)[0] for k in range(1000)}
    after = {k: ranked(PROXIES[:-1], k)[0] for k in range(1000)}
    moved = [k for k in before if before[k] != after[k]]
    assert moved and all(before[k] == PROXIES[-1] for k in moved)


def test_a_failed_proxy_is_skipped_for_a_while_then_used_again():
    now = [1000.0]
    chooser = ProxyChooser(clock=lambda: now[0], skip_seconds=60)
    key = next(k for k in range(100) if ranked(PROXIES, k)[0] == PROXIES[0])
    assert chooser.choose(PROXIES, key) == PROXIES[0]
    chooser.failed(PROXIES[0])
    assert chooser.choose(PROXIES, key) == ranked(PROXIES, key)[1]
    now[0] += 61
    assert chooser.choose(PROXIES, key) == PROXIES[0]


def test_no_proxies_means_a_direct_connection():
    assert ProxyChooser().choose([], 1) is None
