"""CenterNet person detector around the network: targets, data pipeline, checkpoints, evaluation."""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from posenet3d.checkpoint import CheckpointError
from posenet3d.datasets.base import DatasetError
from posenet3d.detection.checkpoint import load_centernet, save_centernet
from posenet3d.detection.decode import decode
from posenet3d.detection.loss import CenterNetLoss, focal_loss
from posenet3d.detection.model import (
    COCO_FLIP_PAIRS,
    CenterNet,
    ctdet_heads,
    multi_pose_heads,
)
from posenet3d.detection.pipeline import (
    COCO_MEAN_BGR,
    AugmentConfig,
    CocoPersonDataset,
    ImageMeta,
    detect_people,
    fit_canvas,
    letterbox_affine,
    postprocess,
    prepare_image,
)
from posenet3d.detection.targets import (
    box_radius,
    build_ctdet_targets,
    build_multi_pose_targets,
    draw_gaussian,
    gaussian_radius,
    gaussian_radius_corrected,
)
from posenet3d.evaluation.detection import (
    detection_records,
    evaluate_person_ap,
    read_detection_json,
    write_detection_json,
)

FIXTURES = Path(__file__).parent / "fixtures"


# ------------------------------------------------------------------------------------------------ targets --

def test_gaussian_radius_original_and_corrected():
    # Square 10 x 10, t = 0.7 (hand computed):
    #   original (coded) roots, no division by 2a:
    #     r1 = (20 + sqrt(400 - 4*17.647)) / 2 = (20 + 18.150) / 2 = 19.075
    #     r2 = (40 + sqrt(1600 - 16*30)) / 2  = (40 + 33.466) / 2 = 36.733
    #     r3 = (-14*2 + sqrt(784 + 4*2.8*30)) / 2 = (-28 + 33.466) / 2 = 2.733  -> min = 2.733 = 2(sqrt(.7)-.7)*10
    #   corrected: r1 = (20 - 18.150)/2 = 0.925, r2 = (40 - 33.466)/8 = 0.817, r3 = 5.466/5.6 = 0.976 -> 0.817
    assert gaussian_radius(10, 10) == pytest.approx(2.7332, abs=1e-4)
    assert gaussian_radius(10, 10) == pytest.approx(2 * (0.7 ** 0.5 - 0.7) * 10)
    assert gaussian_radius_corrected(10, 10) == pytest.approx(0.8167, abs=1e-4)
    # Box h 4 x w 8: original r3 = (-16.8 + sqrt(282.24 + 107.52)) / 2 = (-16.8 + 19.742) / 2 = 1.471;
    # corrected r2 = (24 - sqrt(576 - 153.6)) / 8 = (24 - 20.552) / 8 = 0.431 (r1 0.491, r3 0.525)
    assert gaussian_radius(4, 8) == pytest.approx(1.4712, abs=1e-4)
    assert gaussian_radius_corrected(4, 8) == pytest.approx(0.43095, abs=1e-4)
    # as used: ceil the box, truncate the radius
    assert box_radius(9.2, 9.5) == 2
    assert box_radius(9.2, 9.5, "corrected") == 0
    with pytest.raises(ValueError, match="radius mode"):
        box_radius(4, 4, "fixed")


def test_draw_gaussian_peak_sigma_max_and_border():
    hm = np.zeros((7, 9), dtype=np.float32)
    draw_gaussian(hm, (0, 3), 3)  # centre on the left border: clipped
    assert hm[3, 0] == 1.0 and hm.max() == 1.0
    sigma = 7 / 6
    assert hm[3, 1] == pytest.approx(np.exp(-1 / (2 * sigma ** 2)), rel=1e-6)
    assert hm[3, 4] == 0  # outside the radius
    before = hm.copy()
    draw_gaussian(hm, (2, 3), 1)  # element-wise maximum
    assert np.all(hm >= before) and hm[3, 2] == 1.0


def test_ctdet_targets_fields():
    t = build_ctdet_targets(np.array([[2.0, 3.0, 10.5, 7.0], [5.0, 5.0, 5.0, 9.0]]), None, 1, (16, 12), max_objs=4)
    assert t["hm"].shape == (1, 12, 16) and t["reg_mask"].tolist() == [1, 0, 0, 0]  # zero-width box skipped
    # centre (6.25, 5.0) -> pixel (6, 5), offset (0.25, 0)
    assert t["ind"][0] == 5 * 16 + 6 and t["hm"][0, 5, 6] == 1.0
    np.testing.assert_allclose(t["reg"][0], [0.25, 0.0])
    np.testing.assert_allclose(t["wh"][0], [8.5, 4.0])


def test_multi_pose_keypointless_person():
    boxes = np.array([[2.0, 2.0, 10.0, 12.0]])
    kps = np.zeros((1, 17, 3))
    t = build_multi_pose_targets(boxes, kps, (16, 16))
    assert t["reg_mask"][0] == 0 and t["hm"][0, 7, 6] == 1.0  # reference: still a positive centre
    t = build_multi_pose_targets(boxes, kps, (16, 16), ignore_keypointless=True)
    assert t["hm"][0, 7, 6] == pytest.approx(0.9999)
    assert t["hp_mask"].sum() == 0 and t["hm_hp"].max() == 0


# ---------------------------------------------------------------------------------- synthetic data on disk --

BOXES_A = [[20.0, 30.0, 40.0, 80.0], [110.0, 20.0, 50.0, 100.0], [70.0, 80.0, 36.0, 60.0]]  # x, y, w, h px


def _keypoints_in(box, seed):
    # joints on a jittered 3 x 6 grid inside the box, so that no two joints share an output pixel (the
    # hp_offset map is shared by all joint types: joints of one pixel would get one sub-pixel offset)
    rng = np.random.default_rng(seed)
    x, y, w, h = box
    j = np.arange(17)
    pts = np.stack([x + w * (0.2 + 0.3 * (j % 3) + rng.uniform(-0.03, 0.03, 17)),
                    y + h * (0.1 + 0.16 * (j // 3) + rng.uniform(-0.01, 0.01, 17)),
                    np.full(17, 2.0)], axis=1)
    pts[3, 2] = 0  # one unlabelled joint
    pts[3, :2] = 0
    return pts


def _write_dataset(root: Path, with_keypoints: bool = True) -> Path:
    """Three images: A (200x150, three people), B (128x128, one person), C (160x120, nobody)."""
    rng = np.random.default_rng(0)
    specs = [("a.jpg", 200, 150, BOXES_A), ("b.jpg", 128, 128, [[30.0, 20.0, 60.0, 90.0]]),
             ("c.jpg", 160, 120, [])]
    images, anns = [], []
    for img_id, (name, w, h, boxes) in enumerate(specs, start=1):
        img = rng.integers(60, 120, size=(h, w, 3)).astype(np.uint8)
        for bi, (x, y, bw, bh) in enumerate(boxes):
            color = (40 + 60 * bi, 200, 250 - 50 * bi)
            cv2.rectangle(img, (int(x), int(y)), (int(x + bw) - 1, int(y + bh) - 1), color, -1)
            a = {"id": len(anns) + 1, "image_id": img_id, "category_id": 1, "iscrowd": 0,
                 "bbox": [x, y, bw, bh], "area": bw * bh}
            if with_keypoints:
                k = _keypoints_in((x, y, bw, bh), 10 * img_id + bi)
                a["keypoints"] = k.reshape(-1).tolist()
                a["num_keypoints"] = int((k[:, 2] > 0).sum())
            anns.append(a)
        cv2.imwrite(str(root / name), img, [cv2.IMWRITE_JPEG_QUALITY, 95])
        images.append({"id": img_id, "file_name": name, "width": w, "height": h})
    anns.append({"id": 99, "image_id": 1, "category_id": 3, "iscrowd": 0, "bbox": [0, 0, 5, 5], "area": 25})
    path = root / "persons.json"
    path.write_text(json.dumps({"images": images, "annotations": anns,
                                "categories": [{"id": 1, "name": "person"}, {"id": 3, "name": "car"}]}))
    return path


def _perfect_outputs(item: dict, heads: dict[str, int]) -> dict[str, torch.Tensor]:
    """The targets written as the outputs a perfect network would give (logits for the heatmaps)."""
    hm = item["hm"]
    _, h, w = hm.shape

    def at(values, ind, mask, c):
        m = torch.zeros(c, h * w)
        sel = mask.bool() if mask.dim() == 1 else mask.bool().any(dim=1)
        m[:, ind[sel]] = values[sel].T.float()
        return m.reshape(1, c, h, w)

    out = {"hm": torch.logit(hm.clamp(1e-7, 1 - 1e-7)).unsqueeze(0),
           "wh": at(item["wh"], item["ind"], item["reg_mask"], 2),
           "reg": at(item["reg"], item["ind"], item["reg_mask"], 2)}
    if "hps" in heads:
        out["hps"] = at(item["hps"], item["ind"], item["hps_mask"], 34)
        out["hm_hp"] = torch.logit(item["hm_hp"].clamp(1e-7, 1 - 1e-7)).unsqueeze(0)
        out["hp_offset"] = at(item["hp_offset"], item["hp_ind"], item["hp_mask"], 2)
    return out


def _meta(item, ds) -> ImageMeta:
    return ImageMeta(center=item["center"].numpy(), scale=float(item["scale"]), input_size=ds.input_size,
                     output_size=ds.output_size)


@pytest.mark.parametrize("task", ["ctdet", "multi_pose"])
def test_encode_decode_recovers_boxes_through_the_affine(tmp_path, task):
    ann = _write_dataset(tmp_path)
    ds = CocoPersonDataset(ann, tmp_path, task=task, train=False, input_size=128)
    item = ds[0]
    assert item["input"].shape == (3, 128, 128) and item["hm"].shape == (1, 32, 32)
    assert int(item["reg_mask"].sum()) == 3  # the car annotation is not a person
    heads = ctdet_heads(1) if task == "ctdet" else multi_pose_heads()
    dets = decode(_perfect_outputs(item, heads), k=100)[0].numpy()
    found = postprocess(dets, _meta(item, ds), score_thresh=0.5)
    assert len(found) == 3
    gt = np.array(BOXES_A)
    order = np.argsort(found.boxes_xywh()[:, 0])
    np.testing.assert_allclose(found.boxes_xywh()[order], gt[np.argsort(gt[:, 0])], atol=1.0)
    if task == "multi_pose":
        for i, box in zip(order, sorted(BOXES_A)):
            b = BOXES_A.index(box)
            kp = _keypoints_in(box, 10 + b)
            labelled = kp[:, 2] > 0
            np.testing.assert_allclose(found.keypoints[i][labelled], kp[labelled, :2], atol=1.0)


def test_flipped_training_sample_maps_back(tmp_path):
    ann = _write_dataset(tmp_path)
    aug = AugmentConfig(rand_crop=False, shift=0.0, scale=0.0, flip_prob=1.0, color=False)
    ds = CocoPersonDataset(ann, tmp_path, task="multi_pose", train=True, input_size=128, augment=aug, seed=3)
    item = ds[0]
    dets = decode(_perfect_outputs(item, multi_pose_heads()))[0].numpy()
    found = postprocess(dets, _meta(item, ds), score_thresh=0.5)
    img_w = 200
    boxes = found.boxes_xyxy.astype(np.float64)
    unflipped = np.stack([img_w - 1 - boxes[:, 2], boxes[:, 1], img_w - 1 - boxes[:, 0], boxes[:, 3]], axis=1)
    gt = np.array([[x, y, x + w, y + h] for x, y, w, h in BOXES_A])
    np.testing.assert_allclose(unflipped[np.argsort(unflipped[:, 0])], gt[np.argsort(gt[:, 0])], atol=1.0)
    # keypoints: un-mirror x and swap the L/R pairs back
    i = int(np.argmin(np.abs(unflipped[:, 0] - BOXES_A[0][0])))
    kp = found.keypoints[i].astype(np.float64).copy()
    kp[:, 0] = img_w - 1 - kp[:, 0]
    for a, b in COCO_FLIP_PAIRS:
        kp[[a, b]] = kp[[b, a]]
    ref = _keypoints_in(BOXES_A[0], 10)
    labelled = ref[:, 2] > 0
    np.testing.assert_allclose(kp[labelled], ref[labelled, :2], atol=1.0)


def test_dataset_augmented_item_and_empty_image(tmp_path):
    ann = _write_dataset(tmp_path)
    ds = CocoPersonDataset(ann, tmp_path, task="ctdet", train=True, input_size=64, seed=1)
    item = ds[1]
    assert item["input"].dtype == torch.float32 and torch.isfinite(item["input"]).all()
    torch.testing.assert_close(ds[1]["input"], item["input"])  # seeded: same draw for the same item
    empty = CocoPersonDataset(ann, tmp_path, task="multi_pose", train=False, input_size=64)[2]
    assert empty["reg_mask"].sum() == 0 and empty["hm"].max() == 0 and empty["hp_mask"].sum() == 0
    # loss on an image with nobody in it is finite
    model = CenterNet("res_18", multi_pose_heads(), head_conv=8, width=0.25)
    batch = {k: v.unsqueeze(0) for k, v in empty.items()}
    total, _ = CenterNetLoss()(model(batch["input"]), batch)
    assert torch.isfinite(total)


def test_dataset_errors_name_the_file(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"images": [{"id": 1}], "annotations": []}))
    with pytest.raises(DatasetError, match=r"bad\.json.*file_name"):
        CocoPersonDataset(bad, tmp_path)
    missing = tmp_path / "missing.json"
    missing.write_text(json.dumps({"images": [{"id": 1, "file_name": "nope.jpg"}], "annotations": []}))
    with pytest.raises(DatasetError, match="nope.jpg"):
        CocoPersonDataset(missing, tmp_path, train=False)[0]


def test_prepare_image_convention():
    img = np.empty((50, 100, 3), dtype=np.uint8)
    img[:] = np.round(np.array(COCO_MEAN_BGR) * 255).astype(np.uint8)  # BGR mean colour
    x, meta = prepare_image(img, 64)
    assert x.shape == (3, 64, 64) and meta.output_size == (16, 16) and meta.scale == 100
    assert x[:, 32, :].abs().max() < 0.01  # the image rows normalise to ~0 ...
    assert x[:, 2, 10].min() < -1.4  # ... the letterbox border is black
    # the affine: image centre -> canvas centre, 100 px -> 64 px
    np.testing.assert_allclose(letterbox_affine(meta.center, meta.scale, 64) @ [50, 25, 1], [32, 32], atol=1e-4)



def test_keep_aspect_canvas_is_the_square_canvas_without_its_letterbox_rows():
    assert fit_canvas(1280, 720, 416) == (416, 256) and fit_canvas(720, 1280, 416) == (256, 416)
    assert fit_canvas(500, 500, 416) == (416, 416) and fit_canvas(100, 1, 64) == (64, 32)
    img = np.random.default_rng(0).integers(0, 255, (40, 100, 3), dtype=np.uint8)
    square, sq_meta = prepare_image(img, 64)
    fit, meta = prepare_image(img, 64, keep_aspect=True)
    assert fit.shape == (3, 32, 64) and meta.input_size == (64, 32) and meta.output_size == (16, 8)
    # both canvases centre the image and scale it by 64/100: the fit canvas is the square's middle 32 rows, exactly
    assert torch.equal(fit, square[:, 16:48, :])
    # image px → output px: the square's mapping shifted up by 4 output rows (16 canvas rows)
    corners = np.array([[0, 0, 1], [99, 39, 1], [50, 20, 1]], dtype=np.float64)
    np.testing.assert_allclose(corners @ letterbox_affine(meta.center, meta.scale, meta.output_size).T,
                               corners @ letterbox_affine(sq_meta.center, sq_meta.scale, 16).T - [0, 4], atol=1e-9)
    # a portrait image: the same rule with the sides swapped
    portrait = img.transpose(1, 0, 2).copy()
    tall, _ = prepare_image(portrait, 64, keep_aspect=True)
    assert tall.shape == (3, 64, 32) and torch.equal(tall, prepare_image(portrait, 64)[0][..., 16:48])
    with pytest.raises(ValueError, match="smaller than the image's own"):
        prepare_image(img, 64, keep_aspect=True, canvas=(64, 16))
    # a batch shares the largest canvas: landscape + portrait → the square, and the same boxes as one by one
    torch.manual_seed(0)
    model = CenterNet("res_18", ctdet_heads(1), head_conv=8, width=0.25)
    both = detect_people(model, [img, img[:, :50]], input_size=64, k=5, score_thresh=0.0, keep_aspect=True)
    alone = detect_people(model, [img], input_size=64, k=5, score_thresh=0.0, keep_aspect=True)
    assert [len(r) for r in both] == [5, 5] and both[0].scores.shape == alone[0].scores.shape

# ------------------------------------------------------------------------------------- training, inference --

def _synthetic_batch(tmp_path):
    ann = _write_dataset(tmp_path, with_keypoints=False)
    ds = CocoPersonDataset(ann, tmp_path, task="ctdet", train=False, input_size=128)
    items = [ds[i] for i in range(len(ds))]
    return {k: torch.stack([it[k] for it in items]) for k in items[0]}


def test_short_training_lowers_the_loss(tmp_path):
    torch.manual_seed(0)
    batch = _synthetic_batch(tmp_path)
    model = CenterNet("res_18", ctdet_heads(1), head_conv=16, width=0.25)
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    crit = CenterNetLoss()
    losses = []
    for _ in range(30):
        total, _ = crit(model(batch["input"]), batch)
        opt.zero_grad()
        total.backward()
        opt.step()
        losses.append(float(total.detach()))
    assert all(np.isfinite(losses))
    assert np.mean(losses[-3:]) < 0.5 * np.mean(losses[:3]), losses


def test_task_loss_uses_the_configured_size_weight(tmp_path):
    from posenet3d.config import Config
    from posenet3d.detection.task import CenterNetTask

    torch.manual_seed(0)
    batch = _synthetic_batch(tmp_path)
    model = CenterNet("res_18", ctdet_heads(1), head_conv=16, width=0.25).eval()
    cfg = Config()
    task = CenterNetTask()
    totals = {}
    for weight in (0.1, 1.0):
        cfg.train.det_size_weight = weight
        with torch.no_grad():
            totals[weight], stats = task.loss(model, batch, cfg)
    # total = hm + w·wh + reg: raising w from 0.1 to 1 adds 0.9 × the size loss
    assert float(stats["wh_loss"]) > 1.0
    assert float(totals[1.0] - totals[0.1]) == pytest.approx(0.9 * float(stats["wh_loss"]), rel=1e-5)


def test_empty_image_gives_an_empty_result():
    model = CenterNet("resdcn_18", ctdet_heads(1), head_conv=8, width=0.25)
    with torch.no_grad():
        model.hm[-1].bias.fill_(-20.0)  # the network sees nobody
    res = detect_people(model, np.zeros((40, 60, 3), np.uint8), input_size=64, flip_test=True, nms_iou=0.5)
    assert len(res) == 1 and len(res[0]) == 0
    assert res[0].boxes_xyxy.shape == (0, 4) and res[0].boxes_xywh().shape == (0, 4)
    pose = CenterNet("res_18", multi_pose_heads(), head_conv=8, width=0.25)
    with torch.no_grad():
        pose.hm[-1].bias.fill_(-20.0)
    res = detect_people(pose, [np.zeros((30, 30, 3), np.uint8)] * 2, input_size=64)
    assert [len(r) for r in res] == [0, 0] and res[0].keypoints.shape == (0, 17, 2)
    assert model.training  # detect_people restores the mode


def test_detect_people_batch_flip_and_nms():
    torch.manual_seed(0)
    model = CenterNet("res_18", ctdet_heads(1), head_conv=8, width=0.25)
    imgs = [np.random.default_rng(1).integers(0, 255, (60, 80, 3), dtype=np.uint8),
            np.random.default_rng(2).integers(0, 255, (90, 40, 3), dtype=np.uint8)]
    res = detect_people(model, imgs, input_size=64, k=20, score_thresh=0.0, flip_test=True)
    assert [len(r) for r in res] == [20, 20]
    assert np.all(np.diff(res[0].scores) <= 0)
    kept = detect_people(model, imgs, input_size=64, k=20, score_thresh=0.0, nms_iou=0.3)
    assert all(len(r) <= 20 for r in kept)
    with pytest.raises(ValueError, match="image 1"):
        detect_people(model, [imgs[0], np.zeros((5, 5))], input_size=64)


# ------------------------------------------------------------------------------------------- checkpoints --

def _fake_published(path: Path, fixture: str, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    shapes = json.loads((FIXTURES / fixture).read_text())
    state = {}
    for k, shape in shapes.items():
        if k.endswith("num_batches_tracked"):
            state[k] = torch.tensor(1000, dtype=torch.long)
        elif k.endswith("running_var"):
            state[k] = torch.rand(shape, generator=g) + 0.5
        else:
            state[k] = torch.randn(shape, generator=g) * 0.05
    torch.save({"epoch": 140, "state_dict": {f"module.{k}": v for k, v in state.items()}}, path)
    return state


def test_load_published_checkpoint_keeps_person_class(tmp_path):
    path = tmp_path / "ctdet_coco_resdcn18.pth"
    state = _fake_published(path, "centernet_resdcn18_keys.json")
    model = load_centernet(path, "resdcn_18")
    assert model.num_classes == 1
    torch.testing.assert_close(model.hm[2].weight, state["hm.2.weight"][0:1])
    torch.testing.assert_close(model.hm[2].bias, state["hm.2.bias"][0:1])
    torch.testing.assert_close(model.deconv_layers[0].conv_offset_mask.weight,
                               state["deconv_layers.0.conv_offset_mask.weight"])
    torch.testing.assert_close(model.layer4[1].bn2.running_var, state["layer4.1.bn2.running_var"])
    full = load_centernet(path, "resdcn_18", person_only=False, num_classes=80)
    assert full.num_classes == 80
    # our own files round-trip in the same format
    save_centernet(tmp_path / "ours.pth", model, epoch=3)
    again = load_centernet(tmp_path / "ours.pth", "resdcn_18")
    torch.testing.assert_close(again.hm[2].weight, model.hm[2].weight)
    res = detect_people(again, np.zeros((48, 64, 3), np.uint8), input_size=64, score_thresh=0.0, k=5)
    assert len(res[0]) == 5


def test_wrong_checkpoint_gives_a_clear_error(tmp_path):
    path = tmp_path / "ctdet_coco_resdcn18.pth"
    _fake_published(path, "centernet_resdcn18_keys.json")
    with pytest.raises(CheckpointError) as e:
        load_centernet(path, "res_18")
    msg = str(e.value)
    assert "ctdet_coco_resdcn18.pth" in msg and "resdcn_18" in msg and "deconv_layers.0.weight" in msg
    with pytest.raises(CheckpointError, match="80 classes.*expected 20"):
        load_centernet(path, "resdcn_18", num_classes=20)
    with pytest.raises(CheckpointError, match="multi_pose"):
        load_centernet(path, "resdcn_18", task="multi_pose")
    other = tmp_path / "posenet.pth"
    torch.save({"network": {"module.conv1.weight": torch.zeros(64, 3, 7, 7)}}, other)
    with pytest.raises(CheckpointError, match=r"posenet\.pth.*hm\.2\.weight"):
        load_centernet(other, "res_18")


# ------------------------------------------------------------------------------------------- evaluation --

def test_person_ap_and_detection_file(tmp_path):
    ann = _write_dataset(tmp_path)
    gt = json.loads(ann.read_text())
    people = [a for a in gt["annotations"] if a["category_id"] == 1]
    perfect = {1: (np.array([[x, y, x + w, y + h] for x, y, w, h in BOXES_A]), np.array([0.9, 0.8, 0.7])),
               2: (np.array([[30.0, 20.0, 90.0, 110.0]]), np.array([0.95])),
               3: (np.zeros((0, 4)), np.zeros(0))}
    records = detection_records(perfect)
    assert len(records) == len(people) == 4
    assert records[0] == {"image_id": 1, "category_id": 1, "bbox": [20.0, 30.0, 40.0, 80.0], "score": 0.9}
    out = write_detection_json(tmp_path / "res" / "bbox_test_output.json", records)
    assert read_detection_json(out) == records
    assert [p.name for p in out.parent.iterdir()] == ["bbox_test_output.json"]  # no temp file left
    stats = evaluate_person_ap(ann, out)
    assert stats["AP"] == pytest.approx(1.0) and stats["AP50"] == pytest.approx(1.0)
    # a box shifted to IoU ~0.5 and one miss lower the AP
    worse = [dict(r) for r in records[1:]]
    worse[0]["bbox"] = [110.0 + 17, 20.0, 50.0, 100.0]
    assert evaluate_person_ap(ann, worse)["AP"] < 0.8
    assert evaluate_person_ap(ann, [])["AP"] == 0.0  # nobody detected: AP 0, not an error
    # a part of the test set (test.max_samples): only the named images' people count
    first = [r for r in records if r["image_id"] == 1]
    assert evaluate_person_ap(ann, first)["AP"] < 0.9  # image 2's person is missed
    assert evaluate_person_ap(ann, first, image_ids=[1])["AP"] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="not in"):
        evaluate_person_ap(ann, [dict(records[0], image_id=42)])
    with pytest.raises(ValueError, match="bbox"):
        write_detection_json(tmp_path / "x.json", [dict(records[0], bbox=[1, 2, 3])])


def test_tune_detector_counts_greedy_matches():
    """One true box found twice (the lower-scored copy is a false positive) and one false box."""

    from posenet3d.commands import tune_detector as cli
    gt = np.array([[10.0, 10.0, 20.0, 40.0], [100.0, 10.0, 20.0, 40.0]])
    boxes = np.array([[11.0, 10.0, 20.0, 40.0], [10.0, 12.0, 20.0, 40.0], [300.0, 300.0, 10.0, 10.0]])
    scores = np.array([0.9, 0.6, 0.4])
    tp, kept = cli.count_matches(boxes, scores, gt, np.array([0.3, 0.5, 0.7, 0.95]))
    assert tp.tolist() == [1, 1, 1, 0]
    assert kept.tolist() == [3, 2, 1, 0]


def test_tune_detector_cli_runs_with_flip_test(tiny_world, tmp_path, tiny_config, capsys):
    """The whole CLI on the tiny world's COCO file: a precision/recall/F1 row per threshold, flip test on."""

    from posenet3d.config import dump_config
    from posenet3d.estimator import build_network

    cfg = tiny_config(tiny_world, tmp_path, "centernet", "model.arch=res_18", "model.head_conv=8")
    dump_config(cfg, tmp_path / "det.yaml")
    torch.save({"network": build_network(cfg.model).state_dict()}, tmp_path / "det.pth.tar")
    from posenet3d.commands import tune_detector as cli
    assert cli.main(["--cfg", str(tmp_path / "det.yaml"), "--weights", str(tmp_path / "det.pth.tar"),
                     "--ann", str(tiny_world / "train" / "coco_person_keypoints.json"),
                     "--images", str(tiny_world / "train" / "data"), "--num", "3", "--flip-test"]) == 0
    out = capsys.readouterr().out
    assert "3 images" in out and "flip test on" in out
    rows = [line.split() for line in out.splitlines()[2:]]
    assert len(rows) == 19 and all(0.0 <= float(v) <= 1.0 for row in rows for v in row[1:])


def test_training_augmentation_differs_between_epochs_and_repeats_within_one(tmp_path):
    ann = _write_dataset(tmp_path, with_keypoints=False)
    ds = CocoPersonDataset(ann, tmp_path, task="ctdet", train=True, input_size=128, seed=3)
    first = ds[0]["input"]
    assert torch.equal(ds[0]["input"], first)  # a seeded run repeats itself
    ds.set_epoch(1)
    second = ds[0]["input"]
    assert not torch.equal(second, first)  # but each epoch draws new augmentation
    ds.set_epoch(0)
    assert torch.equal(ds[0]["input"], first)


def test_focal_loss_without_positives_needs_no_branch():
    torch.manual_seed(0)
    logits, gt = torch.randn(2, 1, 8, 8), torch.rand(2, 1, 8, 8) * 0.9  # no exact 1: no positives
    p = torch.sigmoid(logits).clamp(1e-4, 1 - 1e-4)
    expected = -(torch.log(1 - p) * p.pow(2) * (1 - gt).pow(4)).sum()
    assert torch.equal(focal_loss(logits, gt), expected)
