"""``main/test.py`` end to end on the tiny synthetic world: result files for PoseNet and RootNet, clear errors."""
from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
from scipy.io import loadmat

from posenet3d.datasets.mupots import MuPoTS
from posenet3d.engine import train
from posenet3d.skeletons import get_joint_set

ROOT = Path(__file__).resolve().parents[1]


def _args(world: Path, out: Path, task: str) -> list[str]:
    return ["name=tiny", f"output_dir={out}", f"model.task={task}", "model.backbone_depth=18",
            "model.backbone_width=0.25", "model.pretrained=none", "model.input_size=64", "model.depth_dim=8",
            "model.head_channels=16", "data.trainset_3d=[MuCo]", "data.trainset_2d=[]", "data.testset=MuPoTS",
            f"data.roots={{MuCo: {world / 'train'}, MuPoTS: {world / 'test'}}}", "data.num_workers=0",
            "train.batch_size=4", "train.end_epoch=1", "train.max_iters_per_epoch=2", "test.batch_size=8"]


def test_posenet_and_rootnet_results_and_errors(tiny_world, tmp_path, tiny_config, capsys):
    from posenet3d.commands import test as cli
    gt = MuPoTS(tiny_world / "test", "test").records
    gt_roots = np.array([r.root_cam for r in gt])
    for task in ("rootnet", "posenet"):
        out = tmp_path / task
        train(tiny_config(tiny_world, out, task, "train.end_epoch=1", "train.max_iters_per_epoch=2"))
        rc = cli.main(["--cfg", str(ROOT / "cfg" / "muco_posenet.yaml"), "--test_epoch", "0",
                       *_args(tiny_world, out, task)])
        assert rc == 0, capsys.readouterr().err
        printed = capsys.readouterr().out
        result = json.loads((out / "result" / "tiny_epoch0.json").read_text())
        assert result["weights"] == "epoch0"
        if task == "rootnet":
            assert "MRPE" in printed.upper()
            for key in ("mrpe", "baseline_gamma_1", "size_blind_oracle", "ap_root"):
                assert key in result, key
            assert 0.0 <= result["within_250mm_percent"] <= 100.0
            roots = json.loads((out / "result" / "bbox_root_mupots_output.json").read_text())
            assert len(roots) == result["num_people"] and {"image_id", "bbox", "root_cam"} <= set(roots[0])
            # the reported MRPE is the mean distance of the written roots from the ground truth, in file order
            pred = np.array([r["root_cam"] for r in roots])
            assert np.isclose(result["mrpe"]["mrpe"], np.linalg.norm(pred - gt_roots, axis=1).mean(), rtol=1e-9)
            assert [r["image_id"] for r in roots] == [int(r.img_id) for r in gt]
        else:
            assert result["per_person"]["mpjpe_mm"] > 0
            with h5py.File(out / "result" / "tiny_epoch0_preds.h5") as h5:
                pred_cam = h5["joints_cam_mm"][()]
                np.testing.assert_array_equal(h5["img_id"][()], [int(r.img_id) for r in gt])
            # the reported MPJPE is recomputed from the written predictions: root-relative, the 17 MuPoTS joints
            gt_cam = np.array([r.joints_cam for r in gt])
            root = get_joint_set(gt[0].joint_set).root_idx
            rel = (pred_cam - pred_cam[:, root:root + 1]) - (gt_cam - gt_cam[:, root:root + 1])
            assert np.isclose(result["per_person"]["mpjpe_mm"], np.linalg.norm(rel, axis=2)[:, :17].mean(),
                              rtol=1e-6)
            mats = {p.name for p in (out / "result").rglob("*.mat")}
            assert {"preds_2d_kpt_mupots.mat", "preds_3d_kpt_mupots.mat"} <= mats
            pred3d = loadmat(next((out / "result").rglob("preds_3d_kpt_mupots.mat")))
            assert any(not k.startswith("__") for k in pred3d)

    # bad input: no such snapshot; an incompatible snapshot (RootNet weights for PoseNet). Nothing is overwritten.
    out = tmp_path / "posenet"
    before = (out / "result" / "tiny_epoch0.json").read_bytes()
    rc = cli.main(["--cfg", str(ROOT / "cfg" / "muco_posenet.yaml"), "--test_epoch", "7",
                   *_args(tiny_world, out, "posenet")])
    err = capsys.readouterr().err
    assert rc == 2 and "snapshot_7.pth.tar does not exist" in err and "snapshot_0.pth.tar" in err
    rc = cli.main(["--cfg", str(ROOT / "cfg" / "muco_posenet.yaml"), "--weights",
                   str(tmp_path / "rootnet" / "model_dump" / "snapshot_0.pth.tar"), *_args(tiny_world, out, "posenet")])
    err = capsys.readouterr().err
    assert rc == 2 and "snapshot_0.pth.tar" in err
    assert (out / "result" / "tiny_epoch0.json").read_bytes() == before
