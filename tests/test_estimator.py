"""The end-to-end estimator: result schema, inputs, intrinsics, batching, pose NMS, bundles (tiny random networks)."""
from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from torch import nn

from posenet3d.checkpoint import CheckpointError, save_snapshot
from posenet3d.config import ModelConfig
from posenet3d.crop import crop_box, crop_transform
from posenet3d.datasets.base import PersonRecord
from posenet3d.datasets.topdown import TopDownCodec
from posenet3d.datasets.torch_dataset import PoseDataset
from posenet3d.estimator import (
    BUNDLE_FILE,
    DEFAULT_FOCAL_PX,
    Estimator,
    EstimatorError,
    Intrinsics,
    build_network,
    read_bundle,
    resolve_intrinsics,
    save_bundle,
)
from posenet3d.media import MediaError
from posenet3d.preprocess import normalize_patch
from posenet3d.skeletons import MUCO

DET_INPUT = 64  # detector input px → 16×16 output maps
POSE_CFG = ModelConfig(task="posenet", backbone_depth=18, backbone_width=0.25, pretrained="none", input_size=64,
                       depth_dim=8, head_channels=16)
ROOT_CFG = ModelConfig(task="rootnet", backbone_depth=18, backbone_width=0.25, pretrained="none", input_size=64,
                       head_channels=16)
DET_CFG = ModelConfig(task="centernet", arch="res_18", backbone_width=0.25, head_conv=8, input_size=DET_INPUT)


class BlobDetector(nn.Module):
    """A stand-in CenterNet: one centre peak per given box, in output px of the 16×16 maps (``(cx, cy, w, h)``,
    integer centres), so the real decode path yields exactly these boxes."""

    def __init__(self, boxes_out: list[tuple[int, int, float, float]]) -> None:
        super().__init__()
        self.boxes = boxes_out
        self.dummy = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        b, _, h, w = x.shape
        hm = torch.full((b, 1, h // 4, w // 4), -10.0)
        wh = torch.zeros((b, 2, h // 4, w // 4))
        for cx, cy, bw, bh in self.boxes:
            hm[:, 0, cy, cx] = 5.0
            wh[:, 0, cy, cx], wh[:, 1, cy, cx] = bw, bh
        return {"hm": hm, "wh": wh, "reg": torch.zeros((b, 2, h // 4, w // 4))}


def lively(net: nn.Module) -> nn.Module:
    """Re-draw the head weights (initialised near zero) so the outputs depend clearly on the image: He-normal
    deconvolutions, and final 1×1 convolutions scaled for logits of standard deviation ~1 (γ ∈ ~[0.8, 1.2])."""
    for m in net.modules():
        if isinstance(m, nn.ConvTranspose2d):
            nn.init.normal_(m.weight, std=(2.0 / m.weight[0].numel()) ** 0.5)
    finals = {"head.final_layer": 1.0, "root.xy_layer": 1.0, "root.depth_layer": 0.1}
    rms = {}
    hooks = [m.register_forward_hook(lambda mod, inp, out, n=n: rms.__setitem__(n, inp[0].pow(2).mean().sqrt()))
             for n, m in net.named_modules() if n in finals]
    x = normalize_patch((torch.rand(4, 3, 64, 64) * 255).permute(0, 2, 3, 1).numpy())
    with torch.no_grad():
        net.eval()(x) if not hasattr(net, "root") else net.eval()(x, torch.full((4,), 5000.0))
        for h in hooks:
            h.remove()
        for n, m in net.named_modules():
            if n in finals:
                nn.init.normal_(m.weight, std=finals[n] / (float(rms[n]) * m.weight.shape[1] ** 0.5))
    return net


@pytest.fixture(scope="module")
def nets():
    torch.manual_seed(0)
    return lively(build_network(ROOT_CFG)), lively(build_network(POSE_CFG))


def make_estimator(nets, boxes_out=((5, 8, 4.0, 9.0), (11, 8, 4.0, 8.0)), **options) -> Estimator:
    root, pose = nets
    return Estimator(BlobDetector(list(boxes_out)), root, pose, pose_cfg=POSE_CFG, root_cfg=ROOT_CFG,
                     det_input_size=DET_INPUT, **options)


def sample_image(size: int = 128) -> np.ndarray:
    rng = np.random.default_rng(0)
    img = rng.integers(0, 255, (size, size, 3), dtype=np.uint8)
    return cv2.GaussianBlur(img, (5, 5), 0)


def test_result_schema_units_and_joint_names(nets):
    est = make_estimator(nets)
    img = sample_image(128)  # 16×16 maps over 128 px: 8 image px per output px
    res = est.estimate(img)
    assert len(res) == 2
    assert res.joint_names == MUCO.joints_name and len(res.joint_names) == 21
    assert res.skeleton == MUCO.skeleton
    assert res.image_size == (128, 128)
    np.testing.assert_allclose(res.intrinsics.matrix, [[1500, 0, 64], [0, 1500, 64], [0, 0, 1]])
    assert "default" in res.intrinsics.source
    # boxes come back in image px: centre (5, 8) output px, size (4, 9) output px; 8 image px per output px
    by_x = sorted(res, key=lambda p: p.bbox[0])
    np.testing.assert_allclose(by_x[0].bbox, [(5 - 2) * 8, (8 - 4.5) * 8, 4 * 8, 9 * 8], atol=1e-3)
    for p in res:
        assert p.bbox.shape == (4,) and p.root_cam_mm.shape == (3,)
        assert p.joints_cam_mm.shape == (21, 3) and p.joints_2d_px.shape == (21, 2)
        assert 0.99 < p.score <= 1.0
        assert np.all(np.isfinite(p.joints_cam_mm)) and p.root_cam_mm[2] > 0
        # joints lie within the depth range around RootNet's root and project back onto the 2D joints
        assert np.all(np.abs(p.joints_cam_mm[:, 2] - p.root_cam_mm[2]) <= 1000.0 + 1e-6)
        proj = p.joints_cam_mm[:, :2] / p.joints_cam_mm[:, 2:] * 1500.0 + 64.0
        np.testing.assert_allclose(proj, p.joints_2d_px, atol=1e-6)
        # the 2D joints lie inside the processed (crop) box
        x, y, w, h = p.crop_box
        assert np.all(p.joints_2d_px[:, 0] >= x - 1e-6) and np.all(p.joints_2d_px[:, 0] <= x + w)
        assert np.all(p.joints_2d_px[:, 1] >= y - 1e-6) and np.all(p.joints_2d_px[:, 1] <= y + h)
    assert set(res.timings_ms) >= {"detector", "rootnet", "posenet", "total"}
    assert res.timings_ms["total"] >= res.timings_ms["posenet"] > 0
    d = json.loads(json.dumps(res.to_dict(), allow_nan=False))
    assert set(d) == {"units", "image_size", "intrinsics", "people", "joint_names", "skeleton", "timings_ms",
                      "model", "notes"}
    assert d["model"] is None and d["notes"] == []  # an estimator built from modules does not know its identity
    assert "mm" in d["units"]["joints_cam_mm"] and "px" in d["units"]["joints_2d_px"]
    assert set(d["people"][0]) == {"bbox", "score", "root_cam_mm", "joints_cam_mm", "joints_2d_px", "joint_conf",
                                   "pose_score"}
    conf = np.asarray(d["people"][0]["joint_conf"])
    assert conf.shape == (21,) and np.all((conf >= 0) & (conf <= 1))
    assert d["people"][0]["pose_score"] == pytest.approx(conf.mean(), abs=1e-3)
    assert np.asarray(d["people"][0]["joints_cam_mm"]).shape == (21, 3)
    assert d["intrinsics"]["fx"] == 1500.0 and np.asarray(d["intrinsics"]["K"]).shape == (3, 3)


def test_nobody_gives_an_empty_result(nets):
    res = make_estimator(nets, boxes_out=()).estimate(sample_image(96))
    assert len(res) == 0 and list(res) == [] and res.to_dict()["people"] == []
    assert res.joint_names == MUCO.joints_name
    # a random CenterNet (centre probabilities ≈ 0.1) finds nobody at the default threshold either
    torch.manual_seed(1)
    root, pose = nets
    est = Estimator(build_network(DET_CFG), root, pose, pose_cfg=POSE_CFG, root_cfg=ROOT_CFG, det_input_size=64)
    assert len(est.estimate(sample_image(96))) == 0


def test_grey_and_bgra_inputs_equal_their_bgr_versions(nets, tmp_path):
    est = make_estimator(nets)
    bgr = sample_image(128)
    grey = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
    r_grey = est.estimate(grey)
    r_grey_bgr = est.estimate(cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR))
    bgra = np.dstack([bgr, np.full(bgr.shape[:2], 77, np.uint8)])
    r_bgra, r_bgr = est.estimate(bgra), est.estimate(bgr)
    for a, b in ((r_grey, r_grey_bgr), (r_bgra, r_bgr)):
        assert len(a) == len(b) == 2
        for pa, pb in zip(a, b):
            np.testing.assert_allclose(pa.joints_cam_mm, pb.joints_cam_mm, rtol=1e-6)
    assert est.estimate(grey[:, :, None]).people[0].joints_cam_mm.shape == (21, 3)
    cv2.imwrite(str(tmp_path / "img.png"), bgr)  # a path works too
    r_path = est.estimate(tmp_path / "img.png")
    np.testing.assert_allclose(r_path[0].joints_cam_mm, r_bgr[0].joints_cam_mm, rtol=1e-6)


def test_bad_images_raise_clear_errors(nets):
    est = make_estimator(nets)
    for shape in ((1, 1, 3), (3, 5000, 3), (5000, 7)):  # valid images too small for a person: empty, a note
        res = est.estimate(np.zeros(shape, np.uint8))
        assert len(res) == 0 and "too small to hold a person" in res.notes[0]
        assert res.to_dict()["notes"] == res.notes and res.image_size == (shape[1], shape[0])
    assert len(est.estimate_from_boxes(np.zeros((4, 4, 3), np.uint8), [[0, 0, 2, 2]]).notes) == 1
    with pytest.raises(MediaError, match="8-bit"):
        est.estimate(np.zeros((64, 64, 3), np.float32))
    with pytest.raises(MediaError, match="empty"):
        est.estimate(np.zeros((0, 64, 3), np.uint8))
    with pytest.raises(MediaError, match="shape"):
        est.estimate(np.zeros((64, 64, 2), np.uint8))
    with pytest.raises(MediaError, match="no such file"):
        est.estimate("/nonexistent/picture.jpg")


def test_a_path_is_read_upright_as_its_exif_says(nets, tmp_path):
    """Given a path, the estimator turns a phone photo upright (EXIF orientation 6: rotate 90° clockwise)."""
    from PIL import Image
    img = sample_image(128)[:, :96]
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(img[:, :, ::-1]).save(tmp_path / "phone.jpg", exif=exif.tobytes(), quality=95)
    res = make_estimator(nets).estimate(tmp_path / "phone.jpg")
    assert res.image_size == (128, 96)  # (W, H): stored 96 wide and 128 high, turned a quarter
    assert res.intrinsics.cx == 64.0


def test_focal_scales_root_depth_linearly(nets):
    est = make_estimator(nets)
    img = sample_image(128)
    base = est.estimate(img)
    double = est.estimate(img, focal=2 * DEFAULT_FOCAL_PX)
    for a, b in zip(base, double):
        assert b.root_cam_mm[2] == pytest.approx(2 * a.root_cam_mm[2], rel=1e-5)
        # root-relative depths do not change, and 2D joints neither
        np.testing.assert_allclose(b.joints_cam_mm[:, 2] - b.joints_cam_mm[0, 2],
                                   a.joints_cam_mm[:, 2] - a.joints_cam_mm[0, 2], atol=1e-3)
        np.testing.assert_allclose(a.joints_2d_px, b.joints_2d_px, atol=1e-6)
    assert double.intrinsics.fx == 3000.0 and double.intrinsics.cx == 64.0
    # the same camera given as K or as (fx, fy, cx, cy) gives the same result
    k = est.estimate(img, intrinsics=[[3000, 0, 64], [0, 3000, 64], [0, 0, 1]])
    t = est.estimate(img, intrinsics=(3000, 3000, 64, 64))
    for a, b, c in zip(double, k, t):
        np.testing.assert_allclose(a.joints_cam_mm, b.joints_cam_mm, rtol=1e-9)
        np.testing.assert_allclose(a.joints_cam_mm, c.joints_cam_mm, rtol=1e-9)
    # an off-centre principal point moves x, y but not Z
    shifted = est.estimate(img, intrinsics=(1500, 1500, 30, 90))
    a, s = base[0], shifted[0]
    assert s.root_cam_mm[2] == pytest.approx(a.root_cam_mm[2], rel=1e-6)
    assert s.joints_cam_mm[0, 0] > a.joints_cam_mm[0, 0] and s.joints_cam_mm[0, 1] < a.joints_cam_mm[0, 1]


def test_resolve_intrinsics_rules():
    d = resolve_intrinsics(640, 392)
    assert (d.fx, d.fy, d.cx, d.cy) == (1500.0, 1500.0, 320.0, 196.0)  # the reference demo's camera
    assert resolve_intrinsics(640, 392, focal=(1000, 1100)).focal.tolist() == [1000.0, 1100.0]
    given = Intrinsics(1, 2, 3, 4)
    assert resolve_intrinsics(10, 10, intrinsics=given) is given
    for bad, match in (({"intrinsics": (1, 1, 1, 1), "focal": 5}, "not both"),
                       ({"focal": -3}, "positive"), ({"intrinsics": [[1, 0.5, 0], [0, 1, 0], [0, 0, 1]]}, "skew"),
                       ({"intrinsics": (1, 2, 3)}, "shape")):
        with pytest.raises(EstimatorError, match=match):
            resolve_intrinsics(100, 100, **bad)


def test_batched_equals_crop_by_crop(nets):
    est = make_estimator(nets, flip_test=True, batch_size=3)  # 5 people: batches of 3 + 2, flip in the batch
    img = sample_image(160)
    boxes = [[10, 10, 40, 80], [60, 20, 50, 90], [100, 5, 30, 70], [5, 90, 60, 60], [120, 100, 30, 50]]
    batched = est.estimate_from_boxes(img, boxes, focal=1200)
    single = est.estimate_from_boxes(img, boxes, focal=1200, per_crop=True)
    assert len(batched) == len(single) == 5
    for a, b in zip(batched, single):
        np.testing.assert_allclose(a.root_cam_mm, b.root_cam_mm, rtol=1e-4)
        np.testing.assert_allclose(a.joints_cam_mm, b.joints_cam_mm, rtol=1e-4, atol=1e-2)
        np.testing.assert_allclose(a.joints_2d_px, b.joints_2d_px, atol=1e-3)
    # the flip test is really applied: it changes the result
    no_flip = make_estimator(nets, flip_test=False).estimate_from_boxes(img, boxes, focal=1200)
    assert not np.allclose(no_flip[0].joints_2d_px, batched[0].joints_2d_px)


def test_pose_nms_drops_duplicate_people(nets):
    img = sample_image(160)
    boxes = [[20, 10, 50, 100], [20, 10, 50, 100], [100, 30, 40, 90]]
    plain = make_estimator(nets).estimate_from_boxes(img, boxes, scores=[0.9, 0.8, 0.7])
    nms = make_estimator(nets, pose_nms=True).estimate_from_boxes(img, boxes, scores=[0.9, 0.8, 0.7])
    assert len(plain) == 3 and len(nms) == 2
    assert [p.score for p in nms] == [pytest.approx(0.9), pytest.approx(0.7)]


def test_max_people_and_degenerate_boxes(nets):
    est = make_estimator(nets, max_people=1)
    assert len(est.estimate(sample_image(128))) == 1
    img = sample_image(64)
    res = make_estimator(nets).estimate_from_boxes(img, [[10, 10, 0, 20], [500, 500, 10, 10], [5, 5, 20, 40]])
    assert len(res) == 1  # a zero-width box and one outside the image are dropped


_HUGE_IMAGE_CHILD = """
import resource, sys
import numpy as np, torch
from test_estimator import DET_INPUT, POSE_CFG, ROOT_CFG, BlobDetector
from posenet3d.estimator import Estimator, build_network
torch.manual_seed(0)
est = Estimator(BlobDetector([(8, 8, 4.0, 8.0)]), build_network(ROOT_CFG), build_network(POSE_CFG),
                pose_cfg=POSE_CFG, root_cfg=ROOT_CFG, det_input_size=DET_INPUT)
est.estimate(np.zeros((256, 256, 3), np.uint8))  # warm up: thread pools, allocator arenas
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB
huge = np.zeros((8000, 8000, 3), np.uint8)  # 192 MB of untouched (unmapped) zero pages
res = est.estimate(huge)
grown = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
print(len(res), *res[0].bbox, grown)
"""


def test_huge_image_runs_without_copying_it(tmp_path):
    # a fresh process: ru_maxrss is a process-wide peak, so an earlier test's peak would hide this one's
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).parent), *sys.path])}
    out = subprocess.run([sys.executable, "-c", _HUGE_IMAGE_CHILD], env=env, capture_output=True, text=True,
                         check=False, timeout=600, cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    n, x, y, w, h, grown_mb = (float(v) for v in out.stdout.split())
    assert n == 1
    np.testing.assert_allclose([x, y, w, h], [3000, 2000, 2000, 4000], atol=10)  # 500 image px per output px
    assert grown_mb < 120, f"peak memory grew by {grown_mb:.0f} MB: the image was copied"


def test_network_input_equals_the_test_dataset_s(nets, tmp_path):
    """For the same image file and box, the estimator feeds PoseNet exactly what PoseDataset(train=False) gives."""
    img = sample_image(160)
    path = tmp_path / "person.png"
    cv2.imwrite(str(path), img)
    raw_box = np.array([30.5, 12.25, 61.0, 120.0])
    est = make_estimator(nets, flip_test=False)
    seen = []
    hook = est.posenet.register_forward_pre_hook(lambda mod, args: seen.append(args[0].detach().clone()))
    try:
        res = est.estimate_from_boxes(str(path), raw_box[None])
    finally:
        hook.remove()
    codec = TopDownCodec.from_config(POSE_CFG)
    rec = PersonRecord(img_path=str(path), img_id=0, img_size=(160, 160), bbox=crop_box(raw_box, 160, 160),
                       joints_img=np.zeros((21, 3)), joints_vis=np.zeros(21), joints_cam=None, root_cam=None,
                       focal=np.array([1500.0, 1500.0]), princpt=np.array([80.0, 80.0]), has_depth=False,
                       joint_set="MuCo")
    sample = PoseDataset([rec], MUCO, codec, train=False)[0]
    assert len(seen) == 1 and seen[0].shape == (1, 3, 64, 64)
    assert torch.equal(seen[0][0], sample["img"])
    np.testing.assert_array_equal(res[0].crop_box, rec.bbox)
    np.testing.assert_array_equal(sample["crop_affine"].numpy(), crop_transform(rec.bbox, (64, 64))[1].affine)


def test_importing_the_estimator_imports_no_training_or_evaluation_code():
    code = ("import sys, posenet3d.estimator, posenet3d.camera, posenet3d.results, posenet3d.bundle; "
            "print(' '.join(sorted(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=False,
                         env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert out.returncode == 0, out.stderr[-2000:]
    loaded = set(out.stdout.split())
    for name in ("h5py", "posenet3d.datasets.registry", "posenet3d.evaluation", "posenet3d.tasks",
                 "posenet3d.engine", "posenet3d.datasets.torch_dataset", "scipy"):
        assert name not in loaded, f"importing posenet3d.estimator imported {name}"


def test_bundle_round_trip_fp16(nets, tmp_path):
    root, pose = nets
    torch.manual_seed(2)
    det = build_network(DET_CFG)
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "README.md").write_text("bundled model")
    info = save_bundle(folder, {"detector": DET_CFG, "rootnet": ROOT_CFG, "posenet": POSE_CFG},
                       {"detector": det, "rootnet": root, "posenet": pose}, options={"flip_test": False})
    assert info.total_bytes == sum(p.stat().st_size for p in folder.iterdir() if p.name != "README.md")
    assert (folder / "README.md").read_text() == "bundled model"  # other files survive
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporaries left
    stored = torch.load(folder / "posenet.pth", weights_only=True)
    assert stored["head.final_layer.weight"].dtype == torch.float16
    est = Estimator.from_bundle(folder, max_people=4)
    assert est.flip_test is False and est.max_people == 4 and est.det_input_size == DET_INPUT
    p_loaded = dict(est.posenet.named_parameters())["head.final_layer.weight"]
    assert p_loaded.dtype == torch.float32
    np.testing.assert_allclose(p_loaded.detach().numpy(),
                               pose.head.final_layer.weight.detach().half().float().numpy())
    # a corrupted weight file is caught by its recorded hash
    data = bytearray((folder / "rootnet.pth").read_bytes())
    data[-10] ^= 0xFF
    (folder / "rootnet.pth").write_bytes(bytes(data))
    with pytest.raises(EstimatorError, match="rootnet.pth.*SHA-256"):
        Estimator.from_bundle(folder)
    # a network that does not fit its config is refused before anything is written
    with pytest.raises(CheckpointError, match="posenet network does not fit"):
        cfgs = {"detector": DET_CFG, "rootnet": ROOT_CFG, "posenet": dataclasses.replace(POSE_CFG, depth_dim=4)}
        save_bundle(tmp_path / "other", cfgs, {"detector": det, "rootnet": root, "posenet": pose})
    assert not (tmp_path / "other").exists()


def test_bundle_errors_name_the_file(tmp_path):
    with pytest.raises(EstimatorError, match="estimator.yaml does not exist"):
        read_bundle(tmp_path)
    (tmp_path / BUNDLE_FILE).write_text("detector: {weights: centernet.pth, model: {task: posenet}}\n")
    with pytest.raises(EstimatorError, match=r"detector.model.task.*'posenet'"):
        read_bundle(tmp_path)
    (tmp_path / BUNDLE_FILE).write_text("options: {nonsense: 1}\n" + "".join(
        f"{p}: {{weights: {p}.pth, model: {{task: {t}}}}}\n"
        for p, t in (("detector", "centernet"), ("rootnet", "rootnet"), ("posenet", "posenet"))))
    with pytest.raises(EstimatorError, match="detector weights .*detector.pth do not exist"):
        read_bundle(tmp_path)


def test_from_files_reads_published_style_snapshots(nets, tmp_path):
    root, pose = nets
    det = build_network(DET_CFG)
    for name, net in (("root.pth.tar", root), ("pose.pth.tar", pose)):  # DataParallel-style published layout
        save_snapshot(tmp_path / name, {"epoch": 3, "network": {f"module.{k}": v for k, v in
                                                                 net.state_dict().items()}})
    save_snapshot(tmp_path / "det.pth", {"epoch": 1, "state_dict": det.state_dict()})
    est = Estimator.from_files(tmp_path / "det.pth", tmp_path / "root.pth.tar", tmp_path / "pose.pth.tar",
                               det_cfg=DET_CFG, pose_cfg=POSE_CFG, root_cfg=ROOT_CFG, flip_test=False)
    assert est.det_input_size == DET_INPUT and not est.flip_test
    import hashlib
    assert est.identity["domain"] == "own" and est.identity["version"] is None
    assert est.identity["files"]["rootnet"] == {
        "file": "root.pth.tar", "sha256": hashlib.sha256((tmp_path / "root.pth.tar").read_bytes()).hexdigest()}
    assert est.estimate(sample_image(96)).to_dict()["model"] == est.identity
    with pytest.raises(EstimatorError, match="domain"):
        Estimator.from_files(tmp_path / "det.pth", tmp_path / "root.pth.tar", tmp_path / "pose.pth.tar",
                             det_cfg=DET_CFG, pose_cfg=POSE_CFG, root_cfg=ROOT_CFG, domain="real")
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        np.testing.assert_allclose(est.posenet(x).numpy(), pose(x).numpy(), rtol=1e-5, atol=1e-5)
    with pytest.raises(CheckpointError, match="pose.pth.tar"):  # the published R50 layout does not fit a tiny file
        Estimator.from_files(tmp_path / "det.pth", tmp_path / "root.pth.tar", tmp_path / "pose.pth.tar",
                             det_cfg=DET_CFG, root_cfg=ROOT_CFG)
    with pytest.raises(EstimatorError, match="unknown estimator option"):
        make_estimator(nets).from_files(tmp_path / "det.pth", tmp_path / "root.pth.tar", tmp_path / "pose.pth.tar",
                                        det_cfg=DET_CFG, pose_cfg=POSE_CFG, root_cfg=ROOT_CFG, flip=True)


def test_fp16_bundle_keeps_out_of_range_tensors(nets, tmp_path):
    """First-layer BatchNorm variances of networks fed the 0–255 input scale exceed float16's range (65504):
    they stay float32 in the bundle, so the loaded network computes what the trained one does."""
    import copy

    root, pose = (copy.deepcopy(n) for n in nets)
    with torch.no_grad():
        for net in (root, pose):
            net.backbone.bn1.running_var.uniform_(1e4, 3e6)
    det = build_network(DET_CFG)
    save_bundle(tmp_path / "m", {"detector": DET_CFG, "rootnet": ROOT_CFG, "posenet": POSE_CFG},
                {"detector": det, "rootnet": root, "posenet": pose})
    stored = torch.load(tmp_path / "m" / "posenet.pth", weights_only=True)
    assert stored["backbone.bn1.running_var"].dtype == torch.float32
    assert stored["head.final_layer.weight"].dtype == torch.float16
    est = Estimator.from_bundle(tmp_path / "m")
    assert torch.equal(est.rootnet.backbone.bn1.running_var, root.backbone.bn1.running_var)
    x = torch.randn(2, 3, POSE_CFG.input_size, POSE_CFG.input_size) * 100
    with torch.no_grad():
        ref, got = root.eval()(x, torch.full((2, 1), 5000.0)), est.rootnet(x, torch.full((2, 1), 5000.0))
    assert torch.isfinite(got).all()
    np.testing.assert_allclose(got.numpy(), ref.numpy(), rtol=0.02, atol=0.5)
    # a bundle whose out-of-range variances were cast to float16 anyway (inf) is refused with the file named
    bad = dict(stored)
    bad["backbone.bn1.running_var"] = bad["backbone.bn1.running_var"].half()
    torch.save(bad, tmp_path / "m" / "posenet.pth")
    import hashlib

    import yaml
    doc = yaml.safe_load((tmp_path / "m" / BUNDLE_FILE).read_text())
    doc["posenet"]["sha256"] = hashlib.sha256((tmp_path / "m" / "posenet.pth").read_bytes()).hexdigest()
    doc["model"]["files"]["posenet"] = doc["posenet"]["sha256"]
    doc["posenet"]["bytes"] = (tmp_path / "m" / "posenet.pth").stat().st_size
    (tmp_path / "m" / BUNDLE_FILE).write_text(yaml.safe_dump(doc))
    with pytest.raises(EstimatorError, match=r"posenet.pth: .*inf/NaN.*bn1.running_var"):
        Estimator.from_bundle(tmp_path / "m")
