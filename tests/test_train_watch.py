"""Training you can watch: evaluation during training, the best snapshot, TensorBoard, plot-log and ETAs (CPU,
tiny networks on the tiny synthetic world)."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from posenet3d import train_eval
from posenet3d.checkpoint import best_snapshot_path, latest_snapshot, load_file, snapshot_path
from posenet3d.config import ConfigError, load_config
from posenet3d.engine import TrainingError, train
from posenet3d.posenet.task import PoseNetTask

ROOT = Path(__file__).resolve().parents[1]


def _records(out: Path) -> list[dict]:
    return [json.loads(x) for x in (out / "log" / "tiny" / "metrics.jsonl").read_text().splitlines()]


def _scripted_mpjpe(monkeypatch, sequence: dict[int, float]) -> list[int]:
    """Make PoseNet's evaluated MPJPE follow ``sequence`` (epoch → mm; the real test still runs) and record the
    epochs whose best snapshot is written."""
    real_figures, real_save = PoseNetTask.figures, train_eval.save_snapshot
    saved: list[int] = []

    def figures(self, cfg, results):
        out = real_figures(self, cfg, results)
        assert "mpjpe_mm" in out  # the real figure is there; the script replaces its value
        out["mpjpe_mm"] = sequence[int(results["weights"].removeprefix("train_epoch"))]
        return out

    def save(path, state):
        saved.append(state["best"]["epoch"])
        return real_save(path, state)

    monkeypatch.setattr(PoseNetTask, "figures", figures)
    monkeypatch.setattr(train_eval, "save_snapshot", save)
    return saved


def test_evaluation_each_epoch_keeps_the_best_and_resumes_from_the_latest(tiny_world, tmp_path, tiny_config,
                                                                         monkeypatch, capsys):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    saved = _scripted_mpjpe(monkeypatch, {0: 200.0, 1: 250.0, 2: 150.0, 3: 180.0, 4: 100.0})
    common = ("train.eval_interval=1", "train.max_iters_per_epoch=2", "train.log_interval=1")
    train(tiny_config(tiny_world, tmp_path, "posenet", "train.end_epoch=3", "train.tensorboard=true", *common))
    recs = _records(tmp_path)
    evals = [r for r in recs if "eval" in r]
    assert [r["epoch"] for r in recs] == [0, 0, 1, 1, 2, 2]  # each epoch's line, then its evaluation's
    assert [r["eval"]["mpjpe_mm"] for r in evals] == [200.0, 250.0, 150.0]
    assert {"pa_mpjpe_similarity_mm", "pck3d_150mm_percent", "mupots_pck_rel_all_percent"} <= set(evals[0]["eval"])
    assert [r["best"] for r in evals] == [True, False, True]
    assert saved == [0, 2]  # replaced only when the metric improved
    best = load_file(best_snapshot_path(tmp_path / "model_dump"))
    assert best["best"] == {"metric": "mpjpe_mm", "mode": "min", "value": 150.0, "epoch": 2}
    snap2 = load_file(snapshot_path(tmp_path / "model_dump", 2))["network"]
    assert all(torch.equal(best["network"][k], snap2[k]) for k in snap2)
    log = (tmp_path / "log" / "tiny" / "train.log").read_text()
    assert "epoch 1 evaluation on MuPoTS" in log and "best mpjpe_mm 200 at epoch 0" in log
    assert "eta 0:00:00 (run " in log and " grad " in log and "run eta" in log

    # TensorBoard: the expected tags; the epoch losses and evaluation figures are the metrics.jsonl values
    ea = EventAccumulator(str(tmp_path / "log" / "tiny" / "tensorboard"))
    ea.Reload()
    tags = set(ea.Tags()["scalars"])
    assert {"train/loss", "train/l1", "train/lr", "train/grad_norm", "train/samples_per_s", "train/data_fraction",
            "epoch/loss", "epoch/samples_per_s", "epoch/data_fraction", "eval/mpjpe_mm",
            "eval/mupots_pck_rel_all_percent", "eval/seconds"} <= tags
    assert [e.step for e in ea.Scalars("train/loss")] == [1, 2, 3, 4, 5, 6]
    np.testing.assert_allclose([e.value for e in ea.Scalars("epoch/loss")],
                               [r["loss"] for r in recs if "loss" in r], rtol=1e-6)
    assert [e.value for e in ea.Scalars("eval/mpjpe_mm")] == [200.0, 250.0, 150.0]
    assert all(np.isfinite(e.value) and e.value > 0 for e in ea.Scalars("train/grad_norm"))

    # --continue resumes from the latest snapshot (epoch 2), not from the best, and remembers the best (150)
    saved.clear()
    train(tiny_config(tiny_world, tmp_path, "posenet", "train.end_epoch=5", *common), resume=True)
    log = (tmp_path / "log" / "tiny" / "train.log").read_text()
    assert "resumed from" in log and "snapshot_2.pth.tar; starting at epoch 3" in log
    assert "best so far: mpjpe_mm 150 at epoch 2" in log
    assert saved == [4]  # 180 at epoch 3 is worse than the remembered 150
    assert [r["best"] for r in _records(tmp_path) if "eval" in r] == [True, False, True, False, True]
    assert load_file(best_snapshot_path(tmp_path / "model_dump"))["best"]["epoch"] == 4
    assert latest_snapshot(tmp_path / "model_dump").name == "snapshot_4.pth.tar"

    # main/test.py --test_epoch best tests the best snapshot
    from posenet3d.commands import test as test_cli
    capsys.readouterr()
    args = ["--cfg", str(ROOT / "cfg" / "muco_posenet.yaml"), "name=tiny", f"output_dir={tmp_path}",
            "model.backbone_depth=18", "model.backbone_width=0.25", "model.pretrained=none", "model.input_size=64",
            "model.depth_dim=8", "model.head_channels=16", "data.testset=MuPoTS",
            f"data.roots={{MuPoTS: {tiny_world / 'test'}}}", "data.num_workers=0", "test.batch_size=8"]
    assert test_cli.main(["--test_epoch", "best", *args]) == 0
    assert "is epoch 4 (mpjpe_mm 100.0)" in capsys.readouterr().err
    assert json.loads((tmp_path / "result" / "tiny_best.json").read_text())["weights"] == "best"
    with pytest.raises(SystemExit) as exc:  # a usage error: argparse's exit 2
        test_cli.main(["--test_epoch", "last", *args])
    assert exc.value.code == 2
    assert "neither an epoch number nor 'best'" in capsys.readouterr().err


def test_test_max_samples_cuts_whole_images(tiny_world, tmp_path, tiny_config):
    from posenet3d.task_base import test_adapters
    full, _ = test_adapters(tiny_config(tiny_world, tmp_path))
    per_image = {}
    for r in full.records:
        per_image[int(r.img_id)] = per_image.get(int(r.img_id), 0) + 1
    first = list(per_image.values())
    limit = first[0] + first[1]  # exactly the first two images' people
    cut, gt = test_adapters(tiny_config(tiny_world, tmp_path, "posenet", f"test.max_samples={limit + 1}"))
    assert cut is gt and len(cut.records) == limit
    assert {int(r.img_id) for r in cut.records} == set(list(per_image)[:2])
    one, _ = test_adapters(tiny_config(tiny_world, tmp_path, "posenet", "test.max_samples=1"))
    assert len(one.records) == first[0]  # never less than one whole image


def test_evaluation_settings_errors_come_before_training(tiny_world, tmp_path, tiny_config, monkeypatch):
    with pytest.raises(ConfigError, match="train.eval_interval=2 .* data.testset is empty"):
        tiny_config(tiny_world, tmp_path, "posenet", "train.eval_interval=2", "data.testset=''")
    with pytest.raises(ConfigError, match="data.det_test_ann is empty"):
        load_config(None, ["model.task=centernet", "train.eval_interval=1", "data.det_test_ann=''"])
    with pytest.raises(ConfigError, match="train.eval_interval=-1 is not valid"):
        tiny_config(tiny_world, tmp_path, "posenet", "train.eval_interval=-1")
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # as if tensorboard were not installed
    with pytest.raises(ConfigError, match=r"needs the tensorboard package .*pip install \"posenet3d\[tensorboard\]\""):
        train(tiny_config(tiny_world, tmp_path, "posenet", "train.tensorboard=true"))
    assert not (tmp_path / "model_dump").exists()  # nothing trained


def test_a_failing_evaluation_stops_with_the_reason(tiny_world, tmp_path, tiny_config, monkeypatch):
    from posenet3d.datasets.base import DatasetError

    def broken(self, cfg, model, device, tag):
        raise DatasetError("MuPoTS: expected folder /nowhere does not exist")
    monkeypatch.setattr(PoseNetTask, "test", broken)
    cfg = tiny_config(tiny_world, tmp_path, "posenet", "train.eval_interval=1", "train.max_iters_per_epoch=1")
    with pytest.raises(TrainingError, match=r"evaluation after epoch 0 failed \(DatasetError: MuPoTS: expected "
                       r"folder /nowhere .*snapshot_0.pth.tar"):
        train(cfg)


def _gloo_weights(tiny_config, world, out, *extra):
    cfg = tiny_config(world, out, "posenet", "train.end_epoch=2", "train.max_iters_per_epoch=1",
                      "train.batch_size=2", *extra)
    train(cfg, cpu_processes=2)
    return load_file(latest_snapshot(out / "model_dump"))["network"]


def test_two_gloo_processes_with_evaluation_train_the_same_weights(tiny_world, tmp_path, tiny_config, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # spawned workers: one thread each on the shared CPU (~10× faster)
    plain = _gloo_weights(tiny_config, tiny_world, tmp_path / "plain")
    watched = _gloo_weights(tiny_config, tiny_world, tmp_path / "eval", "train.eval_interval=1")
    assert [r["epoch"] for r in _records(tmp_path / "eval") if "eval" in r] == [0, 1]
    assert all(torch.equal(plain[k], watched[k]) for k in plain)


def test_run_eta_counts_iterations_epochs_and_evaluations(tiny_world, tmp_path, tiny_config):
    from posenet3d.monitor import run_eta_s
    cfg = tiny_config(tiny_world, tmp_path, "posenet", "train.end_epoch=10", "train.eval_interval=3")
    # epoch 4, 20 of 100 iterations done at 0.5 s each: 80 + 5 × 100 iterations left; evaluations after 5, 8, 9
    assert train_eval.evaluations_from(cfg, 4) == 3
    assert run_eta_s(cfg, 4, 20, 100, 0.5, train_eval.evaluations_from(cfg, 4), 7.0) == pytest.approx(
        (80 + 500) * 0.5 + 3 * 7.0)


def test_plot_log_draws_the_runs_metrics(tiny_world, tmp_path, tiny_config, capsys):
    from posenet3d.commands import plot_log
    runs = []
    for name, extra in (("a", ["train.eval_interval=1"]), ("b", [])):
        train(tiny_config(tiny_world, tmp_path / name, "posenet", "train.end_epoch=2", "train.max_iters_per_epoch=1",
                          "train.aux_heatmap_weight=1.0", *extra))
        runs.append(tmp_path / name / "log" / "tiny")
    b_lines = (runs[1] / "metrics.jsonl").read_text()
    (runs[1] / "metrics.jsonl").write_text(b_lines + '{"epoch": 2, "lr": 0.001, "lo')  # killed mid-line
    out = tmp_path / "curves.png"
    assert plot_log.main([str(r) for r in runs] + ["--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert "line 3 is cut short" in err and "ignored" in err
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    # the plotted data are the metrics.jsonl values, against epoch and against summed training time
    curves = plot_log.run_curves("a/log/tiny", plot_log.read_metrics(runs[0] / "metrics.jsonl")[0]) + \
        plot_log.run_curves("b/log/tiny", plot_log.read_metrics(runs[1] / "metrics.jsonl")[0])
    fig = plot_log.draw(curves)
    lines = {}  # (panel, column: 0 epoch / 1 time, label) → Line2D
    for ax in fig.axes:
        spec = ax.get_subplotspec()
        panel = fig.axes[2 * spec.rowspan.start].get_ylabel()
        lines.update({(panel, spec.colspan.start, line.get_label()): line for line in ax.get_lines()})
    for run, path in zip(("a/log/tiny", "b/log/tiny"), runs):
        recs = [json.loads(x) for x in path.joinpath("metrics.jsonl").read_text().splitlines() if x.endswith("}")]
        train_recs = [r for r in recs if "loss" in r]
        clock, hours = 0.0, []
        for r in recs:
            clock += r.get("time_s", 0.0) + r.get("eval_s", 0.0)
            if "loss" in r:
                hours.append(clock / 3600)
        for term in ("loss", "l1", "aux"):
            line = lines[("loss", 0, f"{run}: {term}")]
            assert list(line.get_xdata()) == [r["epoch"] for r in train_recs]
            assert list(line.get_ydata()) == [r[term] for r in train_recs]
            minutes = [h * 60 for h in hours]  # runs shorter than two hours: minutes
            assert list(lines[("loss", 1, f"{run}: {term}")].get_xdata()) == pytest.approx(minutes)
        assert list(lines[("lr", 0, run)].get_ydata()) == [r["lr"] for r in train_recs]
    evals = [r for r in _records(tmp_path / "a") if "eval" in r]
    for col in (0, 1):
        assert list(lines[("mpjpe_mm", col, "a/log/tiny")].get_ydata()) == [r["eval"]["mpjpe_mm"] for r in evals]
    assert list(lines[("mpjpe_mm", 0, "a/log/tiny")].get_xdata()) == [0, 1]
    assert fig.axes[-1].get_xlabel() == "training time (min)"
    assert not any(k[0] == "mpjpe_mm" and k[2].startswith("b/") for k in lines)  # run b did not evaluate

    # bad input: a folder without metrics.jsonl, nothing written
    (tmp_path / "empty").mkdir()
    assert plot_log.main([str(runs[0]), str(tmp_path / "empty"), "--out", str(tmp_path / "x.png")]) == 2
    assert "holds no metrics.jsonl" in capsys.readouterr().err and not (tmp_path / "x.png").exists()


@pytest.mark.parametrize("task", ["rootnet", "centernet"])
def test_every_task_reports_its_main_metric_during_training(tiny_world, tmp_path, tiny_config, task):
    from posenet3d.tasks import get_task
    extra = []
    if task == "centernet":
        from test_detection import _write_dataset
        (tmp_path / "coco").mkdir()
        ann = _write_dataset(tmp_path / "coco", with_keypoints=False)
        extra = ["model.arch=res_18", "model.head_conv=8", f"data.det_train_ann={ann}",
                 f"data.det_train_images={tmp_path / 'coco'}", f"data.det_test_ann={ann}",
                 f"data.det_test_images={tmp_path / 'coco'}", "train.batch_size=1", "test.max_samples=2"]
    train(tiny_config(tiny_world, tmp_path, task, "train.end_epoch=1", "train.max_iters_per_epoch=1",
                      "train.eval_interval=1", *extra))
    metric, mode = get_task(task).main_metric
    (ev,) = [r for r in _records(tmp_path) if "eval" in r]
    assert ev["main_metric"] == metric and np.isfinite(ev["eval"][metric]) and ev["best"] is True
    expected = {"rootnet": {"mrpe_mm", "within_250mm_percent", "ap_root_percent"},
                "centernet": {"ap", "ap50", "ap75"}}[task]
    assert set(ev["eval"]) == expected
    assert load_file(best_snapshot_path(tmp_path / "model_dump"))["best"]["mode"] == mode
    if task == "centernet":  # the first two images of three
        result = json.loads((tmp_path / "result" / "tiny_train_epoch0.json").read_text())
        assert result["num_images"] == 2 and result["max_samples"] == 2  # the file says it is a part
