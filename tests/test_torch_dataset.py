"""PoseDataset / RootDataset / MixedDataset on a tiny on-disk fixture: shapes, mixing, bad images, seeding."""
from __future__ import annotations

import logging

import cv2
import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from posenet3d.datasets.base import DatasetError, PersonRecord
from posenet3d.datasets.topdown import TopDownCodec
from posenet3d.datasets.torch_dataset import MixedDataset, PoseDataset, RootDataset, count_bad, read_image_bgr
from posenet3d.geometry import bbox_from_joints, cam2pixel, process_bbox
from posenet3d.skeletons import COCO, MUCO

W, H = 96, 80
FOCAL, PRINCPT = np.array([120.0, 120.0]), np.array([W / 2, H / 2])
CODEC = TopDownCodec(input_shape=(64, 64))


def _write_jpeg(path, seed):
    img = np.random.default_rng(seed).integers(0, 256, size=(H, W, 3), dtype=np.uint8)
    assert cv2.imwrite(str(path), img)


def _record_3d(path, img_id, rng) -> PersonRecord:
    root = np.array([rng.uniform(-100, 100), rng.uniform(-50, 50), 3000.0])
    cam = root + rng.uniform(-300, 300, size=(MUCO.joint_num, 3))
    cam[MUCO.root_idx] = root
    uvz = cam2pixel(cam, FOCAL, PRINCPT)
    return PersonRecord(img_path=str(path), img_id=img_id, img_size=(W, H),
                        bbox=process_bbox(bbox_from_joints(uvz[:, :2]), W, H), joints_img=uvz,
                        joints_vis=np.ones(MUCO.joint_num, np.float32), joints_cam=cam, root_cam=root,
                        focal=FOCAL, princpt=PRINCPT, has_depth=True, joint_set="MuCo")


def _record_2d(path, img_id, rng) -> PersonRecord:
    uv = np.stack([rng.uniform(25, 70, COCO.joint_num), rng.uniform(15, 65, COCO.joint_num)], axis=1)
    joints = np.concatenate([uv, np.zeros((COCO.joint_num, 1))], axis=1)
    return PersonRecord(img_path=str(path), img_id=img_id, img_size=(W, H),
                        bbox=process_bbox(bbox_from_joints(uv), W, H), joints_img=joints,
                        joints_vis=np.ones(COCO.joint_num, np.float32), joints_cam=None, root_cam=None,
                        focal=np.array([1500.0, 1500.0]), princpt=PRINCPT, has_depth=False, joint_set="MSCOCO")


@pytest.fixture
def fixture(tmp_path):
    rng = np.random.default_rng(0)
    recs_3d, recs_2d = [], []
    for i in range(4):
        _write_jpeg(tmp_path / f"img3d_{i}.jpg", i)
        recs_3d.append(_record_3d(tmp_path / f"img3d_{i}.jpg", i, rng))
    for i in range(2):
        _write_jpeg(tmp_path / f"img2d_{i}.jpg", 10 + i)
        recs_2d.append(_record_2d(tmp_path / f"img2d_{i}.jpg", 100 + i, rng))
    return tmp_path, recs_3d, recs_2d


def test_pose_and_root_samples(fixture):
    _, recs_3d, recs_2d = fixture
    ds = PoseDataset(recs_3d + recs_2d, "MuCo", CODEC, train=True)
    s = ds[0]
    assert s["img"].shape == (3, 64, 64) and s["img"].dtype == torch.float32
    assert s["joints_hm"].shape == (21, 3) and s["joints_hm"].dtype == torch.float32
    assert s["vis"].shape == (21,) and s["vis"].dtype == torch.float32
    assert s["has_depth"].item() == 1.0 and int(s["bad"]) == 0 and int(s["index"]) == 0
    assert s["bbox"].shape == (4,) and s["z_root_mm"].item() == pytest.approx(3000.0)
    s2 = ds[4]  # a COCO person mapped into the MuCo joint set
    assert s2["has_depth"].item() == 0.0
    for name in ("Head_top", "Spine", "Head", "R_Hand", "L_Hand", "R_Toe", "L_Toe"):
        assert s2["vis"][MUCO.index(name)] == 0.0
    # test-time samples are not augmented: the targets are the plain crop of the record
    test = PoseDataset(recs_3d, MUCO, CODEC, train=False)[1]
    want = CODEC.encode_pose_record(read_image_bgr(recs_3d[1].img_path), recs_3d[1], MUCO)
    np.testing.assert_allclose(test["joints_hm"].numpy(), want.joints_hm)
    torch.testing.assert_close(test["img"], want.img)

    root = RootDataset(recs_3d + recs_2d, CODEC, train=True)
    r = root[0]
    assert r["img"].shape == (3, 64, 64) and r["root"].shape == (3,) and r["root"].dtype == torch.float32
    assert r["root"][2].item() == pytest.approx(3000.0) and r["k_value"].item() > 0
    assert root[5]["has_depth"].item() == 0.0
    batch = next(iter(DataLoader(root, batch_size=3)))
    assert batch["k_value"].shape == (3,) and batch["k_value"].dtype == torch.float32


def test_mixed_dataset_half_and_half(fixture):
    _, recs_3d, recs_2d = fixture
    d3 = PoseDataset(recs_3d, "MuCo", CODEC, train=True)
    d2 = PoseDataset(recs_2d, "MuCo", CODEC, train=True)
    mix = MixedDataset([[d3], [d2]], seed=1)
    assert len(mix) == 2 * max(len(d3), len(d2)) == 8
    groups = [mix.locate(i)[0] for i in range(len(mix))]
    assert groups.count(0) == groups.count(1) == 4
    assert [mix.locate(i)[1] for i in range(4)] == [0, 1, 2, 3]
    assert [mix.locate(i)[1] for i in range(4, 8)] == [0, 1, 0, 1]
    depth = [mix[i]["has_depth"].item() for i in range(len(mix))]
    assert depth == [1.0] * 4 + [0.0] * 4
    # a 3-long group in a 4-long mix: the last partial cycle is drawn at random (per epoch, reproducibly)
    mix3 = MixedDataset([d3, PoseDataset(recs_2d + recs_2d[:1], "MuCo", CODEC, train=True)], seed=1)
    first = mix3.locate(7)
    assert first == mix3.locate(7) and 0 <= first[1] < 3
    with pytest.raises(ValueError, match="joint sets"):
        MixedDataset([d3, PoseDataset(recs_2d, "MSCOCO", CODEC, train=True)])
    with pytest.raises(ValueError, match="empty"):
        MixedDataset([[], PoseDataset([], "MuCo", CODEC, train=True)])


def test_bad_images_are_skipped_logged_and_counted(fixture, caplog):
    tmp, recs_3d, _ = fixture
    missing = tmp / "img3d_1.jpg"
    missing.unlink()
    truncated = tmp / "img3d_2.jpg"
    data = truncated.read_bytes()
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(DatasetError, match="truncated"):
        read_image_bgr(truncated)
    ds = PoseDataset(recs_3d, "MuCo", CODEC, train=True)
    with caplog.at_level(logging.WARNING, logger="posenet3d.datasets.torch_dataset"):
        s = ds[1]
    assert int(s["bad"]) == 2 and int(s["index"]) == 3
    assert str(missing) in caplog.text and str(truncated) in caplog.text
    batch = next(iter(DataLoader(ds, batch_size=4)))
    assert count_bad(batch) == 3  # index 1 skips two images, index 2 one
    assert batch["index"].tolist() == [0, 3, 3, 3]
    with pytest.raises(DatasetError, match=str(missing.name)):
        PoseDataset(recs_3d, "MuCo", CODEC, train=False)[1]
    # a record whose size disagrees with its image is bad too
    wrong = PersonRecord(**{**recs_3d[0].__dict__, "img_size": (W + 1, H)})
    with pytest.raises(DatasetError, match="img_size"):
        PoseDataset([wrong], "MuCo", CODEC, train=False)[0]


def test_same_seed_same_samples_with_any_worker_count(fixture):
    _, recs_3d, _ = fixture
    ds = PoseDataset(recs_3d, "MuCo", CODEC, train=True, seed=5)
    ds.set_epoch(3)

    def load(workers):
        return list(DataLoader(ds, batch_size=2, num_workers=workers, shuffle=False))

    serial = load(0)
    # persistent workers (as the engine uses) see set_epoch through the shared epoch tensor
    loader = DataLoader(ds, batch_size=2, num_workers=2, shuffle=False, persistent_workers=True)
    parallel = list(loader)
    for a, b in zip(serial, parallel, strict=True):
        torch.testing.assert_close(a["img"], b["img"])
        torch.testing.assert_close(a["joints_hm"], b["joints_hm"])
    ds.set_epoch(4)
    next_epoch = list(loader)
    assert not torch.equal(next_epoch[0]["img"], serial[0]["img"])
    torch.testing.assert_close(next_epoch[0]["img"][0], ds[0]["img"])
    ds.set_epoch(3)
    torch.testing.assert_close(ds[0]["img"], serial[0]["img"][0])
