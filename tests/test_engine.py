import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from posenet3d.checkpoint import latest_snapshot, list_snapshots, load_file
from posenet3d.distributed import GpuSpecError, parse_gpus
from posenet3d.engine import TrainingError, lr_at, train

ROOT = Path(__file__).resolve().parents[1]


def test_parse_gpus():
    assert parse_gpus("0-3", available=4) == [0, 1, 2, 3]
    assert parse_gpus("0,2", available=4) == [0, 2]
    assert parse_gpus(None, available=0) == []
    with pytest.raises(GpuSpecError, match=r"GPU \[2, 3\] not found; this machine has 2"):
        parse_gpus("0-3", available=2)
    with pytest.raises(GpuSpecError, match="not a GPU list"):
        parse_gpus("a-b", available=2)


def test_lr_schedule(tiny_world, tmp_path, tiny_config):
    cfg = tiny_config(tiny_world, tmp_path, "posenet", "train.lr_dec_epoch=[17, 21]")
    assert [lr_at(cfg, e) for e in (0, 16, 17, 20, 21, 24)] == pytest.approx([1e-3, 1e-3, 1e-4, 1e-4, 1e-5, 1e-5])


@pytest.mark.parametrize("task", ["posenet", "rootnet"])
def test_two_epochs_lower_loss_and_resume(tiny_world, tmp_path, task, tiny_config):
    cfg = tiny_config(tiny_world, tmp_path, task, "train.end_epoch=4", "train.lr=3e-3",
                      "train.aux_heatmap_weight=1.0")
    train(cfg)
    lines = [json.loads(x) for x in (tmp_path / "log" / "tiny" / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in lines] == [0, 1, 2, 3]
    assert lines[-1]["loss"] < lines[0]["loss"]
    assert (tmp_path / "log" / "tiny" / "config.yaml").is_file()
    assert [e for e, _ in list_snapshots(tmp_path / "model_dump")] == [0, 1, 2, 3]
    # resume: two more epochs start at 4 with the optimizer state of epoch 3
    before = load_file(latest_snapshot(tmp_path / "model_dump"))
    cfg2 = tiny_config(tiny_world, tmp_path, task, "train.end_epoch=5", "train.lr=3e-3",
                       "train.aux_heatmap_weight=1.0")
    train(cfg2, resume=True)
    after = load_file(latest_snapshot(tmp_path / "model_dump"))
    assert after["epoch"] == 4
    steps = [s["step"] for s in after["optimizer"]["state"].values()]
    steps_before = [s["step"] for s in before["optimizer"]["state"].values()]
    per_epoch = steps_before[0] / 4
    assert all(a == b + per_epoch for a, b in zip(steps, steps_before))


def test_continue_without_snapshot_is_clear(tiny_world, tmp_path, tiny_config):
    with pytest.raises(TrainingError, match="no snapshot"):
        train(tiny_config(tiny_world, tmp_path), resume=True)


def _ddp_worker_weights(tiny_config, world, out_dir, processes, batch):
    cfg = tiny_config(world, out_dir, "posenet", "train.end_epoch=1", "train.freeze_bn=true",
                      "train.max_iters_per_epoch=2", f"train.batch_size={batch}", "train.lr=1e-3")
    train(cfg, cpu_processes=processes)
    return load_file(latest_snapshot(out_dir / "model_dump"))["network"]


def test_two_gloo_processes_match_one_process(tiny_world, tmp_path, tiny_config):
    from posenet3d.tasks import get_task
    torch.manual_seed(0)  # the engine seeds with train.seed (0) before building: the same initial weights
    init = get_task("posenet").build_model(tiny_config(tiny_world, tmp_path), for_training=False).state_dict()
    one = _ddp_worker_weights(tiny_config, tiny_world, tmp_path / "one", 1, 8)
    two = _ddp_worker_weights(tiny_config, tiny_world, tmp_path / "two", 2, 4)
    half = _ddp_worker_weights(tiny_config, tiny_world, tmp_path / "half", 1, 4)  # a wrong "global batch"
    # Adam moves each weight by up to ~lr (1e-3) per step and summation order (threads, all-reduce) can flip the
    # sign of a near-zero gradient, so single weights may differ by up to ~2 lr; in aggregate the two layouts must
    # agree far better than a different global batch does.
    diff_two = max(float((one[k].float() - two[k].float()).abs().max()) for k in one)
    assert diff_two < 2.5e-3, diff_two
    mean_two = sum(float((one[k].float() - two[k].float()).abs().sum()) for k in one)
    mean_half = sum(float((one[k].float() - half[k].float()).abs().sum()) for k in one)
    assert mean_two < 0.05 * mean_half, (mean_two, mean_half)
    moved = [k for k in one if one[k].is_floating_point() and not torch.equal(one[k], init[k])]
    assert len(moved) > 10  # training changed the weights, identically in both layouts


def test_killed_mid_run_resumes_from_intact_snapshot(tiny_world, tmp_path):
    overrides = [f"output_dir={tmp_path}", "name=tiny", "model.backbone_depth=18", "model.backbone_width=0.25",
                 "model.pretrained=none", "model.input_size=64", "model.depth_dim=8", "model.head_channels=16",
                 "data.trainset_3d=[MuCo]", "data.trainset_2d=[]",
                 f"data.roots={{MuCo: {tiny_world / 'train'}, MuPoTS: {tiny_world / 'test'}}}",
                 "data.num_workers=0", "train.batch_size=2", "train.end_epoch=1000"]
    cmd = [sys.executable, str(ROOT / "main" / "train.py"), "--cfg", str(ROOT / "cfg" / "muco_posenet.yaml"),
           *overrides]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    dump = tmp_path / "model_dump"
    deadline = time.time() + 300  # a loaded 2-core machine needs more than 2 minutes for two tiny epochs
    while time.time() < deadline and len(list_snapshots(dump)) < 2:
        time.sleep(0.2)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    snaps = list_snapshots(dump)
    assert len(snaps) >= 2
    last_epoch = snaps[-1][0]
    assert load_file(snaps[-1][1])["epoch"] == last_epoch  # loads: never corrupt
    res = subprocess.run(cmd[:-1] + [f"train.end_epoch={last_epoch + 2}", "--continue"], capture_output=True,
                         text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    assert f"starting at epoch {last_epoch + 1}" in res.stderr
    assert list_snapshots(dump)[-1][0] == last_epoch + 1


def test_cli_overrides_may_follow_flags(tiny_world, tmp_path, capsys):
    from posenet3d.commands import train as cli
    # overrides after --continue parse (and --continue with no snapshot is one clear error, exit code 2)
    rc = cli.main(["--cfg", str(ROOT / "cfg" / "muco_posenet.yaml"), "--continue", f"output_dir={tmp_path}",
                   "model.backbone_depth=18", "model.pretrained=none", "data.trainset_2d=[]",
                   f"data.roots={{MuCo: {tiny_world / 'train'}}}", "data.num_workers=0"])
    assert rc == 2
    assert "no snapshot" in capsys.readouterr().err
    rc = cli.main(["--cfg", str(ROOT / "cfg" / "muco_posenet.yaml"), "--gpu", "0-99", "train.lr=1e-4"])
    assert rc == 2
    assert "not found" in capsys.readouterr().err


@pytest.mark.parametrize("task", ["posenet", "centernet"])
def test_no_per_iteration_reads_of_device_values(tiny_world, tmp_path, tiny_config, monkeypatch, task):
    """Reading a tensor's value (``.item()``, ``float()``, ``int()``, ``bool()``) waits for the GPU; the training
    loop, the tasks and the networks do it every ``log_interval`` iterations, not every iteration."""
    reads = []
    watched = ("posenet3d/engine.py", "posenet3d/tasks.py", "posenet3d/nets/", "posenet3d/detection/task.py",
               "rootnet/")
    for name in ("item", "__float__", "__int__", "__bool__"):
        real = getattr(torch.Tensor, name)

        def spy(self, *a, _real=real, **k):
            caller = sys._getframe(1).f_code.co_filename.replace("\\", "/")
            if any(w in caller for w in watched):
                reads.append(caller)
            return _real(self, *a, **k)
        monkeypatch.setattr(torch.Tensor, name, spy)

    def reads_for(iters: int) -> int:
        reads.clear()
        out = tmp_path / f"{iters}"
        if task == "centernet":
            from test_detection import _write_dataset
            (out / "coco").mkdir(parents=True)
            ann = _write_dataset(out / "coco", with_keypoints=False)
            extra = ["model.arch=res_18", "model.input_size=64", "model.head_conv=8", f"data.det_train_ann={ann}",
                     f"data.det_train_images={out / 'coco'}", "train.batch_size=1"]
        else:
            extra = []
        train(tiny_config(tiny_world, out, task, "train.end_epoch=1", f"train.max_iters_per_epoch={iters}",
                          "train.log_interval=1000", *extra))
        return len(reads)

    assert reads_for(2) == reads_for(3)


def test_every_task_declares_the_interface_the_engine_uses():
    from posenet3d.task_base import Task
    from posenet3d.tasks import TASKS, get_task
    assert set(TASKS) == {"posenet", "rootnet", "centernet"}
    for name in TASKS:
        task = get_task(name)
        assert isinstance(task, Task) and task.name == name and isinstance(task.image_key, str)
    with pytest.raises(ValueError, match="unknown task 'posnet'"):
        get_task("posnet")


def test_test_sets_bring_their_evaluators_through_the_registry(tmp_path):
    from posenet3d.datasets.registry import get_evaluator
    from posenet3d.evaluation.base import TestSetEvaluator
    from posenet3d.evaluation.human36m import Human36MEvaluator
    from posenet3d.evaluation.mupots import MuPoTSEvaluator
    from posenet3d.skeletons import get_joint_set
    assert type(get_evaluator("MuPoTS")) is MuPoTSEvaluator
    assert type(get_evaluator("Human36M")) is Human36MEvaluator
    assert type(get_evaluator("MuCo")) is TestSetEvaluator
    # a dataset outside the table names its adapter and, on it, its evaluator: no task changes
    assert type(get_evaluator("test_engine:_OwnTestSet")) is _OwnEvaluator
    js = get_joint_set("MuPoTS")
    assert get_evaluator("MuPoTS").joint_subsets(js) == (list(range(17)), list(range(14)))
    assert get_evaluator("MuCo").joint_subsets(js) == (list(range(js.joint_num)), list(range(js.joint_num)))


class _OwnEvaluator:
    def __init__(self, adapter=None):
        self.adapter = adapter


class _OwnTestSet:
    evaluator = "test_engine:_OwnEvaluator"
