import json

import h5py
import numpy as np
import pytest
import scipy.io
from scipy.spatial.transform import Rotation

from posenet3d.evaluation import (
    ACTION_NAMES,
    atomic_path,
    evaluate_human36m,
    evaluate_mupots,
    evaluate_roots,
    format_results,
    read_bbox_root_json,
    read_mupots_mat,
    read_predictions_h5,
    write_bbox_root_json,
    write_mupots_mat,
    write_predictions_h5,
    write_result_json,
)
from posenet3d.metrics import ap_root
from posenet3d.skeletons import MUPOTS


# --------------------------------------------------------------------------------------------- Human3.6M
def _h36m_case(n_per_action=2, seed=0):
    rng = np.random.default_rng(seed)
    n = 15 * n_per_action
    gt = rng.normal(scale=300.0, size=(n, 18, 3)) + np.array([0.0, 0.0, 4500.0])
    actions = np.repeat(np.arange(15), n_per_action)
    return gt, actions


def test_h36m_per_action_table_order_and_values():
    gt, actions = _h36m_case()
    offset = 10.0 * (actions + 1)                              # action a: every non-root joint off by 10(a+1) mm
    pred = gt.copy()
    pred[:, 1:, 0] += offset[:, None]
    res = evaluate_human36m(pred, gt, actions, eval_joints=range(17), root_idx=0, protocol=2)
    assert ACTION_NAMES == ("Directions", "Discussion", "Eating", "Greeting", "Phoning", "Posing", "Purchases",
                            "Sitting", "SittingDown", "Smoking", "Photo", "Waiting", "Walking", "WalkDog",
                            "WalkTogether")
    row = res["metrics"]["mpjpe"]
    assert list(row)[2:] == list(ACTION_NAMES) and len(list(row)[2:]) == 15
    expected = 10.0 * np.arange(1, 16) * 16 / 17               # root error 0, 16 joints off
    assert np.allclose([row[a] for a in ACTION_NAMES], expected)
    assert row["total"] == pytest.approx(expected.mean())
    assert row["action_mean"] == pytest.approx(expected.mean())
    assert res["headline_metric"] == "mpjpe" and res["headline"] == pytest.approx(row["total"])
    assert res["num_samples_per_action"]["WalkTogether"] == 2
    assert set(res["labels"]) == {"mpjpe", "pa_mpjpe_rigid", "pa_mpjpe_similarity"}
    table = format_results(res)
    assert "WalkTogether" in table and f"{row['total']:.2f}" in table


def test_h36m_alignment_variants_and_protocol():
    gt, actions = _h36m_case(n_per_action=1)
    rots = Rotation.random(gt.shape[0], random_state=2).as_matrix()
    pred = 1.2 * np.einsum("nab,njb->nja", rots, gt) + 100.0   # similarity copy
    res = evaluate_human36m(pred, gt, actions, eval_joints=range(17), root_idx=0, protocol=1)
    m = res["metrics"]
    assert m["pa_mpjpe_similarity"]["total"] < 1e-6
    assert m["pa_mpjpe_rigid"]["total"] > 10.0                 # the reference's "PA" has no scale
    assert m["mpjpe"]["total"] > m["pa_mpjpe_rigid"]["total"]
    assert res["headline_metric"] == "pa_mpjpe_rigid"
    # only some actions present: the others are NaN, the action mean uses those present
    sub = evaluate_human36m(pred[:3], gt[:3], actions[:3], range(17), 0, 2)
    assert np.isnan(sub["metrics"]["mpjpe"]["Walking"]) and not np.isnan(sub["metrics"]["mpjpe"]["Eating"])
    with pytest.raises(ValueError, match="protocol"):
        evaluate_human36m(pred, gt, actions, range(17), 0, 3)
    with pytest.raises(ValueError, match="0..14"):
        evaluate_human36m(pred, gt, actions + 2, range(17), 0, 2)


# --------------------------------------------------------------------------------------------- MuPoTS-3D
def _person(rng, x_px):
    """A person: 17 joints (MuPoTS order) with 2D near x_px and a camera-frame 3D pose around z = 4 m."""
    j3 = rng.normal(scale=150.0, size=(17, 3)) + np.array([0.0, 0.0, 4000.0])
    j2 = rng.uniform(-60, 60, size=(17, 2)) + np.array([x_px, 400.0])
    return j2, j3


def _mupots_case():
    rng = np.random.default_rng(7)
    people = [_person(rng, x) for x in (200.0, 600.0, 1000.0, 1400.0)]
    g2 = np.stack([p[0] for p in people])
    g3 = np.stack([p[1] for p in people])
    valid = np.array([True, True, True, False])               # the 4th is not a valid annotation
    return g2, g3, valid


def test_mupots_all_equals_matched_times_recall():
    g2, g3, valid = _mupots_case()
    # TS1 frame 0: predictions for GT 0 (perfect) and GT 1 (3 arm joints 200 mm off); GT 2 unmatched.
    p3 = g3[[1, 0]].copy()
    p3[0, [3, 4, 5]] += np.array([200.0, 0.0, 0.0])
    p2 = g2[[1, 0]] + 5.0
    preds = {(1, 0): (p2, p3), (2, 0): (g2[:1] + 3.0, g3[:1] + np.array([0.0, 0.0, 300.0]))}
    gts = {(1, 0): {"joints_2d": g2, "joints_3d_cam_mm": g3, "valid": valid},
           (2, 0): {"joints_2d": g2[:1], "joints_3d_cam_mm": g3[:1]}}
    res = evaluate_mupots(preds, gts, rescale_bones=False)
    ts1, ts2 = res["sequences"]["TS1"], res["sequences"]["TS2"]
    assert (ts1["annotated"], ts1["matched"]) == (3, 2)
    assert res["counts"]["annotated"] == 4 and res["counts"]["matched"] == 3 and res["counts"]["unmatched"] == 1
    # matched: 28 joints; R_Elbow, R_Wrist, L_Shoulder of the first prediction are wrong -> 25/28
    assert ts1["pck_rel_matched"] == pytest.approx(25 / 28 * 100)
    for key in ("pck_rel", "pck_abs", "auc_rel", "auc_abs"):
        assert ts1[f"{key}_all"] == pytest.approx(ts1[f"{key}_matched"] * 2 / 3)
    assert ts1["pck_rel_all"] == pytest.approx(25 / 42 * 100)
    # TS2: a perfect relative pose whose root is 300 mm too far: PCK_rel 100, PCK_abs 0
    assert ts2["pck_rel_matched"] == 100.0 and ts2["pck_abs_matched"] == 0.0
    assert ts2["auc_rel_matched"] == pytest.approx(30 / 31 * 100)
    assert res["mean_over_sequences"]["pck_rel_all"] == pytest.approx((ts1["pck_rel_all"] + 100.0) / 2)
    assert res["pooled"]["pck_rel_all"] == pytest.approx((25 + 14) / (4 * 14) * 100)
    assert "TS2" in format_results(res)


def test_mupots_bone_rescaling_and_unmatched_far_prediction():
    g2, g3, valid = _mupots_case()
    root = g3[0, MUPOTS.root_idx]
    big = 1.6 * (g3[0] - root) + root                           # same directions, bones 60 % longer
    gts = {(3, 5): {"joints_2d": g2[:1], "joints_3d_cam_mm": g3[:1]}}
    on = evaluate_mupots({(3, 5): (g2[:1], big[None])}, gts)
    off = evaluate_mupots({(3, 5): (g2[:1], big[None])}, gts, rescale_bones=False)
    assert on["sequences"]["TS3"]["pck_rel_matched"] == 100.0
    assert on["sequences"]["TS3"]["pck_abs_matched"] == 100.0
    assert off["sequences"]["TS3"]["pck_rel_matched"] < 100.0
    far = evaluate_mupots({(3, 5): (g2[:1] + 45.0, g3[:1])}, gts)     # 45 px away: no match
    assert far["counts"]["matched"] == 0 and far["sequences"]["TS3"]["pck_rel_all"] == 0.0
    assert np.isnan(far["sequences"]["TS3"]["pck_rel_matched"])


def test_mupots_mat_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    preds = {(1, 0): (rng.normal(size=(2, 17, 2)), rng.normal(size=(2, 17, 3))),
             (20, 123): (rng.normal(size=(1, 17, 2)), rng.normal(size=(1, 17, 3)))}
    p2d, p3d = write_mupots_mat(tmp_path, preds, frames=[(1, 0), (1, 1)])
    assert p2d.name == "preds_2d_kpt_mupots.mat" and p3d.name == "preds_3d_kpt_mupots.mat"
    m2 = {k: v for k, v in scipy.io.loadmat(str(p2d)).items() if not k.startswith("__")}
    m3 = {k: v for k, v in scipy.io.loadmat(str(p3d)).items() if not k.startswith("__")}
    assert set(m2) == set(m3) == {"TS1_img_000000", "TS1_img_000001", "TS20_img_000123"}
    assert m2["TS1_img_000000"].shape == (2, 17, 2) and m3["TS1_img_000000"].shape == (2, 17, 3)
    assert m2["TS20_img_000123"].shape == (1, 17, 2) and m3["TS20_img_000123"].shape == (1, 17, 3)
    assert m2["TS1_img_000001"].shape == (0, 17, 2)
    assert np.allclose(m3["TS20_img_000123"], preds[(20, 123)][1])
    back = read_mupots_mat(tmp_path)
    assert np.allclose(back[(1, 0)][0], preds[(1, 0)][0]) and back[(1, 1)][1].shape == (0, 17, 3)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["preds_2d_kpt_mupots.mat", "preds_3d_kpt_mupots.mat"]
    with pytest.raises(ValueError, match=r"\(P, 17, 2\)"):
        write_mupots_mat(tmp_path, {(1, 0): (np.zeros((2, 16, 2)), np.zeros((2, 16, 3)))})


# --------------------------------------------------------------------------------------------- RootNet
def test_bbox_root_json_round_trip_and_errors(tmp_path):
    records = [{"image_id": 3, "bbox": np.array([1.0, 2.0, 30.0, 40.0]), "root_cam": [10.0, -5.0, 4000.0],
                "score": np.float32(0.75), "ann_id": 9},
               {"image_id": 4, "bbox": [0, 0, 10, 10], "root_cam": [0, 0, 3000]}]
    path = write_bbox_root_json(tmp_path / "bbox_root_mupots_output.json", records)
    raw = json.loads(path.read_text())
    assert raw[0] == {"image_id": 3, "bbox": [1.0, 2.0, 30.0, 40.0], "root_cam": [10.0, -5.0, 4000.0],
                      "score": 0.75, "ann_id": 9}
    back = read_bbox_root_json(path)
    assert back[0]["image_id"] == 3 and np.allclose(back[0]["root_cam"], [10.0, -5.0, 4000.0])
    assert "score" not in back[1]
    with pytest.raises(ValueError, match="record 1 field 'root_cam'"):
        write_bbox_root_json(tmp_path / "bad.json", [records[0], {"image_id": 1, "bbox": [0, 0, 1, 1],
                                                                  "root_cam": [1, 2]}])
    assert not (tmp_path / "bad.json").exists()
    (tmp_path / "broken.json").write_text('[{"image_id": 1, "bbox": [0, 0, 1, 1]}]')
    with pytest.raises(ValueError, match="broken.json: record 0 has no field 'root_cam'"):
        read_bbox_root_json(tmp_path / "broken.json")


def test_evaluate_roots_mrpe_groups_and_ap():
    gt = np.array([[0.0, 0.0, 5000.0], [100.0, 100.0, 3000.0], [0.0, 0.0, 4000.0]])
    pred = gt + np.array([[3.0, 4.0, 0.0], [-6.0, 0.0, 8.0], [0.0, 0.0, 30.0]])
    res = evaluate_roots(pred, gt, groups=np.array([1, 1, 0]), group_names=["Directions", "Discussion"])
    assert res["mrpe"]["mrpe"] == pytest.approx((5 + 10 + 30) / 3)
    assert res["mrpe"]["z"] == pytest.approx((0 + 8 + 30) / 3)
    assert res["per_group"]["Discussion"]["mrpe"] == pytest.approx(7.5)
    assert res["per_group"]["Directions"]["count"] == 1
    gt_by_image = {10: np.array([[0.0, 0, 5000], [300.0, 0, 5000]]), 11: np.array([[0.0, 0, 3000]])}
    records = [{"image_id": 10, "bbox": [0, 0, 1, 1], "root_cam": [100.0, 0, 5000], "score": 0.9},
               {"image_id": 10, "bbox": [0, 0, 1, 1], "root_cam": [120.0, 0, 5000], "score": 0.8},
               {"image_id": 10, "bbox": [0, 0, 1, 1], "root_cam": [310.0, 0, 5000], "score": 0.7},
               {"image_id": 99, "bbox": [0, 0, 1, 1], "root_cam": [0.0, 0, 5000], "score": 0.95}]
    ap = evaluate_roots(records=records, gt_roots_by_image=gt_by_image)["ap_root"]
    assert ap["ap"] == pytest.approx(2 / 9 * 100)               # the hand-computed case of test_metrics
    assert (ap["num_gt"], ap["num_tp"], ap["num_fp"], ap["num_skipped"]) == (3, 2, 1, 1)
    direct = ap_root([(np.array([r["root_cam"] for r in records[:3]]), np.array([0.9, 0.8, 0.7])),
                      (np.zeros((0, 3)), np.zeros(0))], [gt_by_image[10], gt_by_image[11]])
    assert ap["ap"] == pytest.approx(direct["ap"])
    with pytest.raises(ValueError, match="score"):
        evaluate_roots(records=[{k: v for k, v in records[0].items() if k != "score"}],
                       gt_roots_by_image=gt_by_image)


# --------------------------------------------------------------------------------------------- report
def test_result_json_h5_and_atomicity(tmp_path):
    res = {"metrics": {"mpjpe": {"total": np.float64(53.3), "Walking": float("nan")}}, "num": np.int64(4)}
    path = write_result_json(res, "h36m_p2", result_dir=tmp_path / "result")
    assert path == tmp_path / "result" / "h36m_p2.json"
    assert json.loads(path.read_text()) == {"metrics": {"mpjpe": {"total": 53.3, "Walking": None}}, "num": 4}
    with pytest.raises(ValueError, match="plain file stem"):
        write_result_json(res, "../escape", result_dir=tmp_path)
    # a failing write leaves the previous file untouched and no temporary file behind
    with pytest.raises(RuntimeError):
        with atomic_path(path) as tmp:
            tmp.write_text("half")
            raise RuntimeError("interrupted")
    assert json.loads(path.read_text())["num"] == 4
    assert [p.name for p in path.parent.iterdir()] == ["h36m_p2.json"]

    h5 = write_predictions_h5(tmp_path / "preds.h5",
                              {"joints_cam_mm": np.ones((2, 17, 3)), "image_id": np.array([5, 6]),
                               "meta/img_path": ["a.jpg", "b.jpg"]}, attrs={"units": "mm", "frame": "camera"})
    with h5py.File(h5, "r") as f:
        assert f["joints_cam_mm"].shape == (2, 17, 3)
    arrays, attrs = read_predictions_h5(h5)
    assert arrays["image_id"].tolist() == [5, 6] and arrays["meta/img_path"].tolist() == ["a.jpg", "b.jpg"]
    assert attrs["units"] == "mm"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["preds.h5", "result"]
