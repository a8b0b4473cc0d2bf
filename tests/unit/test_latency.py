"""The latency histogram: quantiles within its 5 % bucket width, fixed memory."""

from __future__ import annotations

import random

import pytest

from learnstream.latency import BUCKETS, LatencyHistogram


def test_quantiles_are_within_five_percent_of_the_exact_ones():
    rng = random.Random(3)
    samples = [rng.lognormvariate(-1, 1) for _ in range(20_000)]
    histogram = LatencyHistogram()
    for sample in samples:
        histogram.record(sample)
    ordered = sorted(samples)
    for q in (0.5, 0.9, 0.99):
        exact = ordered[int(q * len(ordered)) - 1]
        assert exact <= histogram.quantile(q) <= exact * 1.06
    assert histogram.total == 20_000
    assert len(histogram.counts) == BUCKETS


def test_extremes_and_empty():
    histogram = LatencyHistogram()
    assert histogram.quantile(0.99) == 0.0
    histogram.record(-0.5)  # clock skew between machines
    histogram.record(10**12)
    assert histogram.quantile(0.5) <= 0.00106  # the first bucket: under a millisecond and a bit
    assert histogram.quantile(1.0) == 10**12
    with pytest.raises(ValueError):
        histogram.quantile(0)


def test_merge_adds_samples():
    first, second = LatencyHistogram(), LatencyHistogram()
    first.record(0.1, count=3)
    second.record(2.0)
    first.merge(second)
    assert first.total == 4
    assert first.quantile(0.75) < 0.11 < 1.9 < first.quantile(1.0)
