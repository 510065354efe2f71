"""The bundled demo model (demo/model) on synthetic test images, regenerated from their seed (no data needed)."""
from pathlib import Path

import numpy as np
import pytest

from posenet3d.estimator import Estimator
from posenet3d.skeletons import MUCO
from posenet3d.synth import render_item

BUNDLE = Path(__file__).resolve().parents[1] / "demo" / "model"
# data/Synthetic/test of the README: --seed 0 --num-test 200 --size 512
SEED, NUM_TEST, SIZE = 0, 200, 512
IMAGES = range(0, 200, 25)  # 8 test images spread over the sequences
MPJPE_BOUND_MM = 200.0  # root-relative, matched people (README: the bundled PoseNet reaches far less on GT boxes)


@pytest.fixture(scope="module")
def estimator():
    return Estimator.from_bundle(BUNDLE)


def test_bundled_model_finds_people_and_their_poses(estimator):
    n_gt = n_found = 0
    errors = []
    for index in IMAGES:
        image, camera, people, _ = render_item(SEED, "test", index, SIZE, num_test=NUM_TEST)
        K = (camera.focal[0], camera.focal[1], camera.princpt[0], camera.princpt[1])
        result = estimator.estimate(image, intrinsics=K)
        pred_roots = np.array([p.root_cam_mm for p in result.people]).reshape(-1, 3)
        used = set()
        for person in people:
            gt = np.asarray(person.joints_cam, dtype=np.float64)
            n_gt += 1
            if len(pred_roots) == 0:
                continue
            d = np.linalg.norm(pred_roots - gt[MUCO.root_idx], axis=1)
            d[list(used)] = np.inf
            best = int(np.argmin(d))
            if d[best] < 250.0:  # the AP_root@25cm criterion
                used.add(best)
                n_found += 1
                pred = np.asarray(result.people[best].joints_cam_mm)
                rel_p = pred[:17] - pred[MUCO.root_idx]
                rel_g = gt[:17] - gt[MUCO.root_idx]
                errors.append(np.linalg.norm(rel_p - rel_g, axis=1).mean())
    recall = n_found / n_gt
    assert recall >= 0.9, f"recall {recall:.2f} ({n_found}/{n_gt}) under 25 cm root matching"
    assert float(np.mean(errors)) <= MPJPE_BOUND_MM, f"MPJPE {np.mean(errors):.1f} mm"


def test_bundle_fits_the_size_budget():
    total = sum(p.stat().st_size for p in BUNDLE.iterdir() if p.is_file())
    assert total <= 40e6, f"bundled model is {total / 1e6:.1f} MB"
