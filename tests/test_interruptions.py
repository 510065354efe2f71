"""Training that is interrupted: signals, kills mid-write, resumes, finished runs (CPU, tiny networks)."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from posenet3d import engine
from posenet3d.checkpoint import list_snapshots, load_file, save_snapshot
from posenet3d.engine import train
from posenet3d.stopping import StopRequest

ROOT = Path(__file__).resolve().parents[1]


def _metrics_epochs(out: Path) -> list[int]:
    return [json.loads(x)["epoch"] for x in (out / "log" / "tiny" / "metrics.jsonl").read_text().splitlines()]


def test_resumed_run_equals_an_uninterrupted_one_bit_for_bit(tiny_world, tmp_path, tiny_config):
    straight = tiny_config(tiny_world, tmp_path / "a", "posenet", "train.end_epoch=2", "train.max_iters_per_epoch=2")
    train(straight)
    first = tiny_config(tiny_world, tmp_path / "b", "posenet", "train.end_epoch=1", "train.max_iters_per_epoch=2")
    train(first)
    train(tiny_config(tiny_world, tmp_path / "b", "posenet", "train.end_epoch=2", "train.max_iters_per_epoch=2"),
          resume=True)
    a = load_file(tmp_path / "a" / "model_dump" / "snapshot_1.pth.tar")["network"]
    b = load_file(tmp_path / "b" / "model_dump" / "snapshot_1.pth.tar")["network"]
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_kill_between_metrics_and_snapshot_loses_no_line_and_repeats_none(tiny_world, tmp_path, tiny_config,
                                                                         monkeypatch):
    real_save = engine.save_snapshot

    def dies_at_epoch_1(path, state):
        if state["epoch"] == 1:
            raise SystemExit("killed while writing")  # stands in for a SIGKILL at this point
        return real_save(path, state)

    monkeypatch.setattr(engine, "save_snapshot", dies_at_epoch_1)
    cfg = tiny_config(tiny_world, tmp_path, "posenet", "train.end_epoch=3", "train.max_iters_per_epoch=1")
    with pytest.raises(SystemExit):
        train(cfg)
    assert _metrics_epochs(tmp_path) == [0, 1]  # the line came first
    assert [e for e, _ in list_snapshots(tmp_path / "model_dump")] == [0]
    monkeypatch.setattr(engine, "save_snapshot", real_save)
    train(cfg, resume=True)  # epoch 1 again: its old line is replaced, not repeated
    assert _metrics_epochs(tmp_path) == [0, 1, 2]


def test_restart_removes_stale_temporaries_and_a_finished_run_says_so(tiny_world, tmp_path, tiny_config, capsys):
    cfg = tiny_config(tiny_world, tmp_path, "posenet", "train.end_epoch=1", "train.max_iters_per_epoch=1")
    dump = tmp_path / "model_dump"
    dump.mkdir(parents=True)
    stale = dump / ".snapshot_0.pth.tar.k3j2_x.tmp"
    stale.write_bytes(b"half a snapshot")
    train(cfg)
    assert not stale.exists() and [e for e, _ in list_snapshots(dump)] == [0]
    capsys.readouterr()
    train(cfg, resume=True)
    err = capsys.readouterr().err
    assert "the run is complete" in err and "train.end_epoch=" in err


def test_signal_during_a_snapshot_write_lets_it_finish(tmp_path, monkeypatch):
    real_save = torch.save

    def save_then_signal(obj, f):
        os.kill(os.getpid(), signal.SIGTERM)  # arrives in the middle of the write
        real_save(obj, f)

    monkeypatch.setattr(torch, "save", save_then_signal)
    with StopRequest() as stop:
        path = save_snapshot(tmp_path / "snapshot_0.pth.tar", {"epoch": 0, "w": torch.ones(3)})
    assert stop.requested and stop.signum == signal.SIGTERM
    assert load_file(path)["epoch"] == 0
    assert [p.name for p in tmp_path.iterdir()] == ["snapshot_0.pth.tar"]  # no temporary left


def _overrides(world: Path, out: Path) -> list[str]:
    return [f"output_dir={out}", "name=tiny", "model.backbone_depth=18", "model.backbone_width=0.25",
            "model.pretrained=none", "model.input_size=64", "model.depth_dim=8", "model.head_channels=16",
            "data.trainset_3d=[MuCo]", "data.trainset_2d=[]",
            f"data.roots={{MuCo: {world / 'train'}, MuPoTS: {world / 'test'}}}", "data.num_workers=0",
            "train.batch_size=2", "train.end_epoch=1000"]


def _wait_for_snapshot(proc, dump: Path, timeout: float = 120) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline and not list_snapshots(dump) and proc.poll() is None:
        time.sleep(0.2)
    assert list_snapshots(dump), "no snapshot was written"


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_signal_stops_at_a_safe_point_and_says_how_to_continue(tiny_world, tmp_path, signum):
    cmd = [sys.executable, str(ROOT / "main" / "train.py"), "--cfg", str(ROOT / "cfg" / "muco_posenet.yaml"),
           *_overrides(tiny_world, tmp_path)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    dump = tmp_path / "model_dump"
    _wait_for_snapshot(proc, dump)
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signum, err
    last = err.strip().splitlines()[-1]
    assert f"stopped by {signal.Signals(signum).name}" in last and "the last good snapshot is" in last, err
    assert "--continue" in last and "Traceback" not in err
    assert not list(dump.glob(".*.tmp"))
    epochs = [e for e, _ in list_snapshots(dump)]
    assert _metrics_epochs(tmp_path)[: len(epochs)] == epochs  # every snapshot has its metrics line


def test_sigterm_to_a_multi_process_run_stops_every_worker(tiny_world, tmp_path):
    """--gpu 0-3 spawns one process per GPU; here two gloo CPU workers stand in for them."""
    code = ("import sys; from posenet3d.config import load_config; from posenet3d.engine import train\n"
            "from posenet3d.stopping import TrainingInterrupted\n"
            f"cfg = load_config({str(ROOT / 'cfg' / 'muco_posenet.yaml')!r}, sys.argv[1:])\n"
            "try:\n    train(cfg, cpu_processes=2)\n"
            "except TrainingInterrupted as e:\n    print(e, file=sys.stderr); sys.exit(e.exit_code)\n")
    overrides = [*_overrides(tiny_world, tmp_path), "train.log_interval=1"]
    proc = subprocess.Popen([sys.executable, "-c", code, *overrides], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=ROOT)
    _wait_for_snapshot(proc, tmp_path / "model_dump")
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err
    assert "stopped by SIGTERM" in err and "ProcessRaisedException" not in err
