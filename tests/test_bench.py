"""The benchmark commands run end to end on small settings and print their tables (no timing is asserted: speed
is measured by running them, docs/benchmarks.md)."""
from __future__ import annotations

import re
from pathlib import Path

from posenet3d.cli import main as cli_main


def test_bench_e2e_prints_the_stage_table_and_the_batched_pose_stage(capsys):
    assert cli_main(["bench", "e2e", "--skip-r50", "--skip-runtimes", "--people", "1", "--runs", "1",
                     "--threads", "1"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^\| 1 \|( [\d.]+ \|){6}$", out, re.M), out  # people, five stages and the total
    assert "batched vs crop by crop" in out and re.search(r"\| off \| [\d.]+ \| [\d.]+ \| [\d.]+× \|", out)
    assert re.search(r"fp32 matmul rate: [\d.]+ GFLOP/s before", out)


def test_bench_detector_and_synth_run_on_small_settings(capsys, tmp_path, monkeypatch):
    assert cli_main(["bench", "detector", "--archs", "res_18", "--size", "128", "--runs", "1", "--warmup", "0",
                     "--threads", "1"]) == 0
    assert "res_18" in capsys.readouterr().out
    monkeypatch.chdir(tmp_path)
    assert cli_main(["bench", "synth", "--num", "2", "--size", "256", "--workers", "1"]) == 0
    assert re.search(r"images/s", capsys.readouterr().out)


def test_bench_throughput_rows_per_stream_count(capsys):
    images = Path(__file__).resolve().parents[1] / "demo" / "images"  # in every clone (the test split is made)
    assert cli_main(["bench", "throughput", "--input", str(images), "--num", "3", "--batch-images", "1",
                     "--streams", "1", "2", "--det-keep-aspect"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^\| torch \| throughput mode \| 1 \| 2 \| [\d.]+ \| [\d.]+× \|$", out, re.M), out


def test_fast_settings_are_estimator_options(capsys):
    import pytest

    from posenet3d.commands import estimator_options
    assert estimator_options(["det_keep_aspect=true", "det_input_size=320", "flip_test=false"]) == \
        {"det_keep_aspect": True, "det_input_size": 320, "flip_test": False}
    with pytest.raises(ValueError, match="--fast flip: expected KEY=VALUE"):
        estimator_options(["flip"])
    with pytest.raises(SystemExit) as exc:
        cli_main(["bench", "e2e", "--fast", "no_such_option=1"])
    assert exc.value.code == 2 and "no_such_option is not an estimator option" in capsys.readouterr().err
