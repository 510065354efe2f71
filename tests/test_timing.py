import pytest

from posenet3d.timing import time_ms


def test_time_ms_counts_warmup_and_runs():
    calls = []
    times = time_ms(lambda: calls.append(1), runs=3, warmup=2)
    assert len(calls) == 5 and len(times) == 3 and all(t >= 0 for t in times)
    with pytest.raises(ValueError, match="runs"):
        time_ms(lambda: None, runs=0)
