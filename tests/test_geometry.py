import numpy as np
import pytest

from posenet3d import crop as C
from posenet3d import geometry as G


def test_cam_pixel_round_trip_vectorised():
    rng = np.random.default_rng(0)
    cam = np.stack([rng.uniform(-1500, 1500, (4, 7)), rng.uniform(-1000, 1000, (4, 7)),
                    rng.uniform(1500, 9000, (4, 7))], axis=-1)
    f, c = np.array([1400.0, 1450.0]), np.array([320.5, 240.25])
    uvz = G.cam2pixel(cam, f, c)
    assert uvz.shape == cam.shape
    np.testing.assert_allclose(uvz[..., 2], cam[..., 2])
    np.testing.assert_allclose(G.pixel2cam(uvz, f, c), cam, rtol=1e-12, atol=1e-9)
    # the principal point projects the optical axis
    np.testing.assert_allclose(G.cam2pixel(np.array([0.0, 0.0, 5000.0]), f, c)[:2], c)


def test_world_cam_round_trip():
    rng = np.random.default_rng(1)
    q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    R = q * np.sign(np.linalg.det(q))
    t = np.array([-346.05, 546.98, 5474.48])
    world = rng.normal(size=(17, 3)) * 500
    cam = G.world2cam(world, R, t)
    np.testing.assert_allclose(cam, (R @ world.T).T + t)
    np.testing.assert_allclose(G.cam2world(cam, R, t), world, atol=1e-9)


def test_process_bbox_square_extended_and_centred():
    box = G.process_bbox([100, 50, 41, 101], 640, 480)
    # clipped: w = 40, h = 100 -> square 100 -> x1.25
    np.testing.assert_allclose(box[2:], [125.0, 125.0])
    np.testing.assert_allclose(box[:2] + box[2:] / 2, [120.0, 100.0])


def test_process_bbox_edge_cases():
    assert G.process_bbox([10, 10, 0, 50], 100, 100) is None  # zero area
    assert G.process_bbox([10, 10, 50, -5], 100, 100) is None
    assert G.process_bbox([500, 500, 40, 40], 100, 100) is None  # entirely outside
    part = G.process_bbox([-20, -20, 60, 60], 100, 100)  # partly outside: clipped first
    assert part is not None
    # the reference keeps the width from the clipped corner: x2 = min(W-1, 0 + 59) -> 59 x 1.25
    np.testing.assert_allclose(part[2:], [73.75, 73.75])
    boxes, valid = G.process_bboxes(np.array([[0, 0, 10, 20], [5, 5, 0, 0]]), 100, 100)
    assert valid.tolist() == [True, False] and np.all(boxes[1] == 0)
    wide = G.process_bbox([0, 0, 81, 21], 200, 200, aspect_ratio=2.0)
    np.testing.assert_allclose(wide[2] / wide[3], 2.0)


def test_k_value():
    k = G.k_value(np.array([[0, 0, 200.0, 200.0]]), np.array([1500.0, 1500.0]))
    np.testing.assert_allclose(k, [2000.0 * 1500.0 / 200.0])
    # k is inversely proportional to the box side and proportional to f
    k2 = G.k_value(np.array([[0, 0, 400.0, 400.0]]), np.array([3000.0, 3000.0]))
    np.testing.assert_allclose(k2, k)
    with pytest.raises(ValueError, match="positive area"):
        G.k_value(np.array([0, 0, 0.0, 10.0]), (1500, 1500))


@pytest.mark.parametrize("rot", [0.0, 30.0, -55.0])
def test_crop_affine_and_inverse(rot):
    center, size, out = (300.0, 200.0), (120.0, 120.0), (256, 256)
    A = C.crop_affine(center, size, out, rot)
    Ainv = C.crop_affine(center, size, out, rot, inverse=True)
    np.testing.assert_allclose(G.apply_affine(np.array([center]), A), [[128.0, 128.0]], atol=1e-4)
    pts = np.random.default_rng(0).uniform(0, 600, (10, 3))
    back = G.apply_affine(G.apply_affine(pts, A), Ainv)
    np.testing.assert_allclose(back, pts, atol=1e-9)
    np.testing.assert_array_equal(C.invert_affine(A), Ainv)
    # scale: a box side maps onto the patch side
    if rot == 0:
        p = G.apply_affine(np.array([[center[0] + 60, center[1]]]), A)
        np.testing.assert_allclose(p, [[256.0, 128.0]], atol=1e-4)


def test_bbox_from_joints():
    j = np.array([[10.0, 20.0], [110.0, 220.0], [999.0, 999.0]])
    box = G.bbox_from_joints(j, vis=np.array([1, 1, 0]))
    np.testing.assert_allclose(box[2:], [99 * 1.2, 199 * 1.2])
    np.testing.assert_allclose(box[:2] + box[2:] / 2, [60.0, 120.0])
