"""The top-down codec: crop/flip/augmentation geometry, targets, decoding round trips, RootNet k."""
from __future__ import annotations

import math

import numpy as np
import pytest

from posenet3d.crop import crop_affine, invert_affine
from posenet3d.datasets.augment import (
    NO_AUG,
    AugConfig,
    AugParams,
    sample_aug,
    sample_occlusion,
)
from posenet3d.datasets.base import PersonRecord
from posenet3d.datasets.topdown import TopDownCodec, record_root_depth_mm
from posenet3d.geometry import (
    apply_affine,
    bbox_from_joints,
    cam2pixel,
    k_value,
    process_bbox,
)
from posenet3d.skeletons import MUCO

IMG_W, IMG_H = 320, 240
FOCAL = np.array([400.0, 420.0])
PRINCPT = np.array([158.0, 123.0])


def make_record(rng: np.random.Generator, root=(0.0, 0.0, 3000.0), spread_mm=250.0) -> PersonRecord:
    """A MuCo-joint person in front of a known camera; joints within ±spread of the root."""
    joints_cam = np.asarray(root) + rng.uniform(-spread_mm, spread_mm, size=(MUCO.joint_num, 3))
    joints_cam[MUCO.root_idx] = root
    uvz = cam2pixel(joints_cam, FOCAL, PRINCPT)
    bbox = process_bbox(bbox_from_joints(uvz[:, :2]), IMG_W, IMG_H)
    return PersonRecord(img_path="unused.jpg", img_id=0, img_size=(IMG_W, IMG_H), bbox=bbox, joints_img=uvz,
                        joints_vis=np.ones(MUCO.joint_num, dtype=np.float32), joints_cam=joints_cam,
                        root_cam=np.asarray(root, dtype=np.float64), focal=FOCAL, princpt=PRINCPT,
                        has_depth=True, joint_set="MuCo")


def mirror_record(rec: PersonRecord) -> PersonRecord:
    """The same person in the horizontally mirrored image (u → W − 1 − u, left/right swapped)."""
    perm = MUCO.flip_permutation()
    j = rec.joints_img.copy()
    j[:, 0] = IMG_W - 1 - j[:, 0]
    b = rec.bbox.copy()
    b[0] = IMG_W - 1 - b[0] - b[2]
    return PersonRecord(img_path=rec.img_path, img_id=rec.img_id, img_size=rec.img_size, bbox=b,
                        joints_img=j[perm], joints_vis=rec.joints_vis[perm], joints_cam=None, root_cam=rec.root_cam,
                        focal=rec.focal, princpt=rec.princpt, has_depth=True, joint_set="MuCo")


def gaussian_marker(x: float, y: float, sigma: float = 2.0, peak: float = 200.0) -> np.ndarray:
    yy, xx = np.mgrid[0:IMG_H, 0:IMG_W]
    g = peak * np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * sigma**2))
    return np.repeat(g[..., None], 3, axis=2).round().astype(np.uint8)


@pytest.fixture
def codec() -> TopDownCodec:
    return TopDownCodec()


def test_output_shape_and_depth_round_trip(codec):
    assert codec.output_shape == (64, 64)
    z = np.array([-1000.0, -250.0, 0.0, 999.0])
    np.testing.assert_allclose(codec.depth_mm_to_hm(z), [0.0, 24.0, 32.0, 63.968], atol=1e-9)
    np.testing.assert_allclose(codec.depth_hm_to_mm(codec.depth_mm_to_hm(z)), z, atol=1e-9)
    assert TopDownCodec(input_shape=(128, 96), depth_dim=32).output_shape == (32, 24)
    with pytest.raises(ValueError, match="decode_mode"):
        TopDownCodec(decode_mode="bogus")


def test_inverse_affines_match_geometry(codec):
    rng = np.random.default_rng(1)
    for _ in range(10):
        b = np.array([*rng.uniform(-50, 200, 2), *[rng.uniform(40, 300)] * 2])
        s, r = rng.uniform(0.75, 1.25), rng.uniform(-60, 60)
        want = invert_affine(crop_affine((b[0] + b[2] / 2, b[1] + b[3] / 2), (b[2] * s, b[3] * s), (256, 256), r))
        np.testing.assert_allclose(codec.crop_records(b, s, r).inverse, want, rtol=0, atol=1e-12 * b[2])
        m = codec.image_to_patch_affine(b, AugParams(scale=s, rot_deg=r))
        np.testing.assert_allclose(m, crop_affine((b[0] + b[2] / 2, b[1] + b[3] / 2), (b[2] * s, b[3] * s),
                                                  (256, 256), r), rtol=0, atol=1e-15)


def test_flip_twice_is_identity(codec):
    rng = np.random.default_rng(2)
    img = rng.integers(0, 256, size=(IMG_H, IMG_W, 3), dtype=np.uint8)
    rec = make_record(rng)
    mirrored = mirror_record(rec)
    img_m = np.ascontiguousarray(img[:, ::-1])
    perm = MUCO.flip_permutation()
    for aug in (AugParams(), AugParams(scale=1.2, rot_deg=25.0, color_scale=(0.9, 1.1, 1.0))):
        flipped = AugParams(scale=aug.scale, rot_deg=aug.rot_deg, flip=True, color_scale=aug.color_scale)
        a = codec.encode_pose_record(img, rec, MUCO, aug)
        b = codec.encode_pose_record(img_m, mirrored, MUCO, flipped)
        pa, _ = codec.crop(img, rec.bbox, aug)
        pb, _ = codec.crop(img_m, mirrored.bbox, flipped)
        diff = np.abs(pa - pb)
        assert diff.max() <= 1.5 and (diff > 0).mean() < 0.01  # bilinear rounding only
        np.testing.assert_allclose(a.joints_hm, b.joints_hm, atol=1e-3)
        np.testing.assert_array_equal(a.vis, b.vis)
        np.testing.assert_allclose(a.affine[:, :2] @ [[-1, 0], [0, 1]], b.affine[:, :2], atol=1e-6)
    # flipping is an involution on the targets of one image as well
    f1 = codec.encode_pose_record(img, rec, MUCO, AugParams(flip=True))
    assert not np.allclose(f1.joints_hm, codec.encode_pose_record(img, rec, MUCO).joints_hm)
    assert perm[perm].tolist() == list(range(MUCO.joint_num))


@pytest.mark.parametrize("seed", [3, 4, 5, 6])
def test_marker_lands_on_its_target_under_augmentation(codec, seed):
    rng = np.random.default_rng(seed)
    rec = make_record(rng, spread_mm=150.0)
    cfg = AugConfig(occlusion_prob=0.0, rot_prob=1.0, flip_prob=0.5)
    aug = sample_aug(rng, rec.bbox, IMG_W, IMG_H, cfg)
    if seed == 3:
        aug = AugParams(aug.scale, aug.rot_deg, True, aug.color_scale)  # make sure the flip is exercised
    joint = 5  # L_Shoulder: a left joint, so the flip must move its target to R_Shoulder's slot
    # off-centre, but far enough inside the box that the marker is never cut by the patch border
    rec.joints_img[joint, :2] = rec.bbox[:2] + rec.bbox[2:] * (0.5 + rng.uniform(-0.2, 0.2, size=2))
    u, v = rec.joints_img[joint, :2]
    img = gaussian_marker(u, v)
    patch, _ = codec.crop(img, rec.bbox, aug)
    t = codec.encode_pose_record(img, rec, MUCO, aug)
    slot = int(MUCO.flip_permutation()[joint]) if aug.flip else joint
    w = patch.sum(axis=2)
    yy, xx = np.mgrid[0:w.shape[0], 0:w.shape[1]]
    found = np.array([(w * xx).sum() / w.sum(), (w * yy).sum() / w.sum()])
    want = t.joints_hm[slot, :2] * (256 / 64)
    assert np.linalg.norm(found - want) < 0.5, (aug, found, want)
    assert t.vis[slot] == 1.0


def test_decode_inverts_encode_without_augmentation(codec):
    rng = np.random.default_rng(7)
    rec = make_record(rng)
    img = np.zeros((IMG_H, IMG_W, 3), dtype=np.uint8)
    t = codec.encode_pose_record(img, rec, MUCO)
    assert t.vis.all() and t.has_depth == 1.0
    z_root = record_root_depth_mm(rec)
    for mode in ("affine", "reference"):
        d = codec.decode_pose(t.joints_hm, rec.bbox, z_root, rec.focal, rec.princpt, mode=mode)
        np.testing.assert_allclose(d.joints_img[:, :2], rec.joints_img[:, :2], atol=2e-3)
        np.testing.assert_allclose(d.joints_img[:, 2], rec.joints_img[:, 2], atol=1e-2)
        np.testing.assert_allclose(d.joints_cam_mm, rec.joints_cam, atol=5e-2)


def test_decode_inverts_encode_under_rotation_and_scale(codec):
    rng = np.random.default_rng(8)
    rec = make_record(rng, spread_mm=120.0)
    img = np.zeros((IMG_H, IMG_W, 3), dtype=np.uint8)
    aug = AugParams(scale=1.2, rot_deg=-37.0)
    t = codec.encode_pose_record(img, rec, MUCO, aug)
    d = codec.decode_pose(t.joints_hm, rec.bbox, record_root_depth_mm(rec), rec.focal, rec.princpt,
                          scale=aug.scale, rot_deg=aug.rot_deg)
    np.testing.assert_allclose(d.joints_img[:, :2], rec.joints_img[:, :2], atol=2e-3)
    np.testing.assert_allclose(d.joints_cam_mm, rec.joints_cam, atol=5e-2)
    with pytest.raises(ValueError, match="reference"):
        codec.decode_pose(t.joints_hm, rec.bbox, 3000.0, rec.focal, rec.princpt, rot_deg=10.0, mode="reference")


def test_batched_decode_matches_single(codec):
    rng = np.random.default_rng(9)
    recs = [make_record(rng, root=(x, 50.0, z)) for x, z in ((-300, 2500), (0, 3000), (400, 4200))]
    coords = rng.uniform(0, 63, size=(3, MUCO.joint_num, 3))
    boxes = np.stack([r.bbox for r in recs])
    zr = np.array([r.root_cam[2] for r in recs])
    foc, pp = np.stack([r.focal for r in recs]), np.stack([r.princpt for r in recs])
    rot = np.array([0.0, 15.0, -40.0])
    batch = codec.decode_pose(coords, boxes, zr, foc, pp, scale=1.1, rot_deg=rot)
    for i in range(3):
        one = codec.decode_pose(coords[i], boxes[i], zr[i], foc[i], pp[i], scale=1.1, rot_deg=rot[i])
        np.testing.assert_allclose(batch.joints_cam_mm[i], one.joints_cam_mm, atol=1e-9)
        np.testing.assert_allclose(batch.joints_img[i], one.joints_img, atol=1e-9)


def test_vis_zeroed_outside_patch_and_depth_range(codec):
    rng = np.random.default_rng(10)
    rec = make_record(rng, spread_mm=100.0)
    z_root = rec.root_cam[2]
    j = rec.joints_img.copy()
    j[0, :2] = rec.bbox[:2] - 40.0  # above-left of the crop
    j[1, 2] = z_root + 1000.0  # z01 == 1: outside [0, 1)
    j[2, 2] = z_root + 999.0
    j[3, 2] = z_root - 1000.0  # z01 == 0: inside
    j[4, 2] = z_root - 1001.0
    img = np.zeros((IMG_H, IMG_W, 3), dtype=np.uint8)
    vis = np.ones(MUCO.joint_num)
    vis[6] = 0.0  # not annotated stays 0
    t = codec.encode_pose(img, rec.bbox, j, vis, z_root, True, MUCO.flip_permutation())
    assert t.vis[:7].tolist() == [0.0, 0.0, 1.0, 1.0, 0.0, 1.0, 0.0]
    assert t.vis[7:].all()
    assert t.joints_hm[3, 2] == pytest.approx(0.0, abs=1e-6)
    # a 2D-only person: depth targets sit on the root plane and never invalidate a joint
    t2 = codec.encode_pose(img, rec.bbox, j, np.ones(MUCO.joint_num), 0.0, False)
    np.testing.assert_allclose(t2.joints_hm[:, 2], 32.0)
    assert t2.has_depth == 0.0 and t2.vis[1:].all() and t2.vis[0] == 0.0


def test_rootnet_target_k_and_flip(codec):
    rng = np.random.default_rng(11)
    rec = make_record(rng, root=(120.0, -60.0, 4000.0))
    img = np.zeros((IMG_H, IMG_W, 3), dtype=np.uint8)
    t = codec.encode_root_record(img, rec)
    want_k = math.sqrt(2000.0 * 2000.0 * FOCAL[0] * FOCAL[1] / (rec.bbox[2] * rec.bbox[3]))
    assert t.k_value == pytest.approx(want_k) == pytest.approx(float(k_value(rec.bbox, FOCAL)))
    root_px = rec.joints_img[MUCO.root_idx, :2]
    np.testing.assert_allclose(t.root[:2], apply_affine(root_px, t.affine) / 4.0, atol=1e-4)
    assert t.root[2] == pytest.approx(4000.0) and t.root_vis == 1.0 and t.has_depth == 1.0
    d = codec.decode_root(t.root, rec.bbox, rec.focal, rec.princpt)
    np.testing.assert_allclose(d.joints_cam_mm, rec.root_cam, atol=5e-2)
    for aug in (AugParams(flip=True), AugParams(flip=True, rot_deg=30.0), AugParams(rot_deg=-50.0)):
        tf = codec.encode_root_record(img, rec, aug)
        assert tf.k_value == t.k_value
        assert tf.root[2] == t.root[2]
    tf = codec.encode_root_record(img, rec, AugParams(flip=True))
    # the reference mirrors the image (u → W − 1 − u) and the box centre alike, so in the patch the root is
    # mirrored about the box centre W_in/2: x_patch → W_in − x_patch
    assert tf.root[0] * 4.0 == pytest.approx(256.0 - t.root[0] * 4.0, abs=1e-3)
    assert tf.root[1] == pytest.approx(t.root[1], abs=1e-4)
    with pytest.raises(ValueError, match="scale"):
        codec.encode_root_record(img, rec, AugParams(scale=1.1))
    far = rec.joints_img.copy()
    far[MUCO.root_idx, :2] = (-200.0, -200.0)
    out = codec.encode_root(img, rec.bbox, far[MUCO.root_idx, :2], 1.0, 4000.0, True, FOCAL)
    assert out.root_vis == 0.0


def test_occlusion_only_touches_its_rectangle(codec):
    rng = np.random.default_rng(12)
    img = rng.integers(0, 256, size=(IMG_H, IMG_W, 3), dtype=np.uint8)
    bbox = np.array([100.0, 60.0, 120.0, 120.0])
    clean, rec = codec.crop(img, bbox, NO_AUG)
    m = rec.affine
    outside = codec.crop(img, bbox, AugParams(occlusion=(0, 0, 20, 20), noise_seed=1))[0]
    np.testing.assert_array_equal(clean, outside)  # the rectangle is outside the cropped region
    rect = (140, 100, 40, 30)
    occ = codec.crop(img, bbox, AugParams(occlusion=rect, noise_seed=1))[0]
    again = codec.crop(img, bbox, AugParams(occlusion=rect, noise_seed=1))[0]
    np.testing.assert_array_equal(occ, again)
    changed = np.abs(occ - clean).sum(axis=2) > 0
    ys, xs = np.nonzero(changed)
    corners = apply_affine(np.array([[rect[0] - 1, rect[1] - 1], [rect[0] + rect[2], rect[1] + rect[3]]], float), m)
    assert changed.mean() > 0.05
    assert xs.min() >= corners[0, 0] - 1 and xs.max() <= corners[1, 0] + 1
    assert ys.min() >= corners[0, 1] - 1 and ys.max() <= corners[1, 1] + 1
    # the noise is drawn in image space, so cutting the full image gives the same patch
    full = img.copy()
    x, y, w, h = rect
    full[y:y + h, x:x + w] = np.random.default_rng(1).integers(0, 256, size=(h, w, 3), dtype=np.uint8)
    np.testing.assert_array_equal(codec.crop(full, bbox, NO_AUG)[0], occ)


def test_augmentation_distributions():
    rng = np.random.default_rng(13)
    bbox = np.array([100.0, 60.0, 100.0, 100.0])
    draws = [sample_aug(rng, bbox, IMG_W, IMG_H) for _ in range(2000)]
    scale = np.array([a.scale for a in draws])
    rot = np.array([a.rot_deg for a in draws])
    assert scale.min() >= 0.75 and scale.max() <= 1.25 and np.isclose(scale.min(), 0.75)
    assert np.abs(rot).max() <= 60.0 and 0.35 < np.mean(rot == 0.0) < 0.45
    assert 0.45 < np.mean([a.flip for a in draws]) < 0.55
    col = np.array([a.color_scale for a in draws])
    assert col.min() >= 0.8 and col.max() <= 1.2
    occ = [a.occlusion for a in draws if a.occlusion is not None]
    assert 0.45 < len(occ) / len(draws) < 0.55
    for x, y, w, h in occ:
        assert x >= 0 and y >= 0 and x + w < IMG_W and y + h < IMG_H
        assert w * h <= 0.7 * 100 * 100 + 1
    root = [sample_aug(rng, bbox, IMG_W, IMG_H, AugConfig.rootnet()) for _ in range(200)]
    assert all(a.scale == 1.0 and a.occlusion is None for a in root)
    assert any(a.rot_deg != 0.0 for a in root) and any(a.flip for a in root)
    # a box that fills a tiny image admits no placement: bounded retries, no occlusion
    assert sample_occlusion(rng, [-10.0, -10.0, 30.0, 30.0], 2, 2, AugConfig(occlusion_area=(0.5, 0.7))) is None
