"""Range parsing of the statistics endpoints and percentiles from histogram bins."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from balancer.models.rollup import BINS, BOUNDS_MS, bin_of
from balancer.services.statistics.histogram import quantile
from balancer.services.statistics.ranges import PRESETS, RangeError, parse

NOW = datetime(2026, 3, 10, 14, 37, 25, tzinfo=timezone.utc)


@pytest.mark.parametrize("name, granularity, points", [
    ("1h", "minute", 61), ("6h", "minute", 361), ("24h", "hour", 25), ("7d", "hour", 169),
    ("30d", "day", 31)])
def test_a_preset_picks_its_granularity_and_ends_with_the_current_bucket(name, granularity, points):
    w = parse({"range": name}, NOW)
    assert w.granularity == granularity
    assert len(w.points()) == points
    begin = NOW - timedelta(seconds=PRESETS[name])
    assert w.start <= begin < w.start + w.step
    assert w.end - w.step <= NOW < w.end


def test_no_range_means_the_last_24_hours():
    w = parse({}, NOW)
    assert w.granularity == "hour" and w.end - w.start == timedelta(hours=25)


def test_a_custom_range_is_aligned_outward_to_whole_buckets():
    w = parse({"from": "2026-03-01T10:15:00Z", "to": "2026-03-01T12:00:00Z"}, NOW)
    assert w.granularity == "minute" and w.start == datetime(2026, 3, 1, 10, 15, tzinfo=timezone.utc)
    w = parse({"from": "2026-03-01T10:15:00", "to": "2026-03-01T12:00:01", "granularity": "hour"}, NOW)
    assert (w.start.hour, w.end.hour) == (10, 13)
    w = parse({"from": "2026-01-01", "to": "2026-03-01"}, NOW)
    assert w.granularity == "day" and len(w.points()) == 59


@pytest.mark.parametrize("args, words", [
    ({"range": "2w"}, "range: expected one of"),
    ({"from": "yesterday", "to": "2026-03-01"}, "from: expected an ISO 8601"),
    ({"from": "2026-03-01"}, "needs both from and to"),
    ({"from": "2026-03-02", "to": "2026-03-01"}, "from must be before to"),
    ({"range": "1h", "from": "2026-03-01", "to": "2026-03-02"}, "not both"),
    ({"range": "30d", "granularity": "minute"}, "more than 1500 points"),
    ({"granularity": "week"}, "granularity: expected one of"),
    ({"key": "abc"}, "key: expected an id"),
    ({"key": "1", "model": "m"}, "one of pool, key, model, client or api at a time"),
    ({"api": "x" * 17}, "api: at most 16 characters"),
])
def test_bad_input_is_refused_with_a_reason(args, words):
    with pytest.raises(RangeError, match=words):
        parse(args, NOW)


def test_a_filter_is_kept_as_dimension_and_subject():
    assert parse({"client": "007"}, NOW).filter == ("client", "7")
    assert parse({"model": "gemini-2.5-flash"}, NOW).filter == ("model", "gemini-2.5-flash")


def test_values_land_in_the_bin_of_their_upper_bound():
    assert bin_of(0) == 0 and bin_of(50) == 0 and bin_of(51) == 1
    assert bin_of(None) == 0 and bin_of(10 ** 7) == BINS - 1


def test_quantiles_interpolate_inside_the_bin_like_histogram_quantile():
    assert quantile([0] * BINS, 0.5) is None
    bins = [0] * BINS
    bins[bin_of(150)] = 10  # ten requests between 100 and 200 ms
    assert quantile(bins, 0.5) == 150 and quantile(bins, 0.95) == 195
    bins[bin_of(10 ** 6)] = 90  # the open last bin answers the highest bound
    assert quantile(bins, 0.95) == BOUNDS_MS[-1]
    exact = sorted([30, 80, 120, 130, 160, 450, 900, 1200, 3000, 20000])
    bins = [0] * BINS
    for ms in exact:
        bins[bin_of(ms)] += 1
    for q, true in ((0.5, exact[4]), (0.9, exact[8])):
        found = quantile(bins, q)
        low = BOUNDS_MS[bin_of(true) - 1] if bin_of(true) else 0
        assert low <= found <= BOUNDS_MS[bin_of(true)]
