"""torchvision's COCO detectors as person detectors (:mod:`posenet3d.detection.torchvision_detectors`), offline:
random weights (``weights=None``), the architecture checked against torchvision's own ``weights="DEFAULT"`` build
with the download replaced, weights placed in a temporary torchvision cache by hand, the one message when they
are missing and cannot be downloaded (the network call blocked), bundles that name one, the demo's
``--detector``."""
from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
import torchvision.models._api as tv_api
import torchvision.models.detection as tvd

from posenet3d import cli
from posenet3d.camera import EstimatorError
from posenet3d.commands import REPO
from posenet3d.config import ModelConfig
from posenet3d.detection.torchvision_detectors import (
    COCO_PERSON_LABEL,
    TORCHVISION_DETECTORS,
    build_torchvision_detector,
    parse_name,
    person_detections,
    weights_file,
)
from posenet3d.estimator import Estimator, build_network, save_bundle

#: Small inputs for the R-CNN-style models and few proposals, so random-weight runs take a fraction of a second.
SMALL = {"fasterrcnn_v2": {"min_size": 96, "max_size": 128, "rpn_pre_nms_top_n_test": 50,
                           "rpn_post_nms_top_n_test": 10},
         "retinanet": {"min_size": 96, "max_size": 128, "topk_candidates": 50},
         "fcos": {"min_size": 96, "max_size": 128, "topk_candidates": 50},
         "ssdlite": {}}
POSE = ModelConfig(task="posenet", backbone_depth=18, backbone_width=0.25, pretrained="none", input_size=64,
                   depth_dim=8, head_channels=16)
ROOT = ModelConfig(task="rootnet", backbone_depth=18, backbone_width=0.25, pretrained="none", input_size=64,
                   head_channels=16)


def picture(h: int = 96, w: int = 128) -> np.ndarray:
    rng = np.random.default_rng(0)
    return cv2.GaussianBlur(rng.integers(0, 255, (h, w, 3), dtype=np.uint8), (5, 5), 0)


def class_logits(model: torch.nn.Module, name: str) -> list[torch.nn.Module]:
    """The layers whose outputs are the class logits (91 COCO labels per anchor, anchor-major)."""
    if name == "fasterrcnn_v2":
        return [model.roi_heads.box_predictor.cls_score]
    if name == "ssdlite":
        return [block[-1] for block in model.head.classification_head.module_list]
    return [model.head.classification_head.cls_logits]


def force_label(model: torch.nn.Module, name: str, label: int) -> None:
    """Make every anchor / proposal of a random-weight model say ``label`` with confidence ~1."""
    with torch.no_grad():
        for layer in class_logits(model, name):
            layer.weight.zero_()
            bias = torch.full((layer.bias.numel() // 91, 91), -10.0)
            bias[:, label] = 10.0
            layer.bias.copy_(bias.reshape(-1))


@pytest.fixture
def offline(tmp_path, monkeypatch):
    """torchvision's cache in a temporary folder and every download attempt failing (as with no network)."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    calls = []

    def refuse(url, *args, **kwargs):
        calls.append(url)
        raise urllib.error.URLError("no network in the tests")

    monkeypatch.setattr(torch.hub, "download_url_to_file", refuse)
    monkeypatch.setattr(urllib.request, "urlopen", refuse)
    # as in a fresh process: no console logging left configured by a training run earlier in this test session
    monkeypatch.setattr(logging.getLogger("posenet3d"), "handlers", [])
    return calls


def test_names_and_the_unknown_name():
    assert list(TORCHVISION_DETECTORS) == ["fasterrcnn_v2", "retinanet", "fcos", "ssdlite"]
    assert parse_name("torchvision:fcos") == parse_name("fcos") == "fcos"
    with pytest.raises(EstimatorError, match=r"unknown detector 'torchvision:yolo'; valid: centernet, "
                                             r"torchvision:fasterrcnn_v2, torchvision:retinanet, torchvision:fcos, "
                                             r"torchvision:ssdlite"):
        parse_name("torchvision:yolo")


@pytest.mark.parametrize("name", list(TORCHVISION_DETECTORS))
def test_our_build_is_torchvisions_coco_architecture(name, monkeypatch):
    """The network built with weights=None takes exactly the state_dict torchvision's own weights="DEFAULT"
    build loads (the download replaced by our random weights), and gives the same boxes."""
    torch.manual_seed(0)
    ours = build_torchvision_detector(name, weights=None, **SMALL[name])
    state = ours.model.state_dict()
    monkeypatch.setattr(tv_api, "load_state_dict_from_url", lambda url, *a, **k: state)
    theirs = getattr(tvd, TORCHVISION_DETECTORS[name].builder)(weights="DEFAULT", **SMALL[name]).eval()
    if name in ("ssdlite", "fcos"):  # the cheap ones: the same outputs too
        x = torch.rand(3, 96, 128, generator=torch.Generator().manual_seed(1))
        with torch.no_grad():
            a, b = ours([x])[0], theirs([x])[0]
        for key in ("boxes", "scores", "labels"):
            torch.testing.assert_close(a[key], b[key])


@pytest.mark.parametrize("name", list(TORCHVISION_DETECTORS))
def test_each_detector_keeps_only_people_and_feeds_the_estimator(name):
    torch.manual_seed(0)
    det = build_torchvision_detector(name, weights=None, **SMALL[name])
    image = picture()
    force_label(det.model, name, 3)  # a car everywhere: nobody
    assert len(det.detect(image, score_thresh=0.3, nms_iou=0.7)) == 0
    force_label(det.model, name, COCO_PERSON_LABEL)
    people = det.detect(image, score_thresh=0.3, nms_iou=0.7)
    assert len(people) > 0
    assert np.all(people.scores > 0.3) and np.all(np.diff(people.scores) <= 0)
    assert np.all(people.boxes_xyxy[:, :2] >= 0) and np.all(people.boxes_xyxy[:, 2] <= 128)
    est = Estimator(det, build_network(ROOT), build_network(POSE), pose_cfg=POSE, root_cfg=ROOT, flip_test=False,
                    max_people=3)
    result = est.estimate(image)
    assert len(result) == min(3, len(people))
    np.testing.assert_allclose([p.bbox for p in result], people.boxes_xywh()[:3], atol=1e-4)
    assert np.isfinite(np.stack([p.joints_cam_mm for p in result])).all()
    with pytest.raises(EstimatorError, match="det_flip_test is CenterNet's"):
        Estimator(det, build_network(ROOT), build_network(POSE), pose_cfg=POSE, root_cfg=ROOT, det_flip_test=True)


def test_a_torchvision_detector_stays_in_torch_when_the_other_networks_run_in_onnx_runtime():
    pytest.importorskip("onnxruntime")
    torch.manual_seed(0)
    det = build_torchvision_detector("ssdlite", weights=None, **SMALL["ssdlite"])
    force_label(det.model, "ssdlite", COCO_PERSON_LABEL)
    image = picture()
    ref = Estimator(det, build_network(ROOT), build_network(POSE), pose_cfg=POSE, root_cfg=ROOT, flip_test=False,
                    max_people=2)
    ort = Estimator(det, build_network(ROOT), build_network(POSE), pose_cfg=POSE, root_cfg=ROOT, flip_test=False,
                    max_people=2, backend="onnxruntime")
    assert ort.detector is det and ort.runtime["detector"].backend == "torch" and "runs in torch" in \
        ort.runtime["detector"].note and ort.runtime["posenet"].backend == "onnxruntime"
    a, b = ref.estimate(image), ort.estimate(image)
    assert len(a) == len(b) > 0
    np.testing.assert_allclose([p.bbox for p in a], [p.bbox for p in b])


def test_person_detections_filters_label_score_and_overlap():
    out = {"boxes": torch.tensor([[0, 0, 10, 20], [1, 0, 11, 20], [50, 50, 60, 70], [0, 0, 10, 20], [5, 5, 9, 9.]]),
           "labels": torch.tensor([1, 1, 1, 3, 1]), "scores": torch.tensor([0.8, 0.9, 0.5, 0.99, 0.2])}
    got = person_detections(out, score_thresh=0.3, nms_iou=0.7)
    np.testing.assert_allclose(got.boxes_xyxy, [[1, 0, 11, 20], [50, 50, 60, 70]])
    np.testing.assert_allclose(got.scores, [0.9, 0.5])
    assert len(person_detections(out, score_thresh=0.3, nms_iou=None)) == 3


def test_missing_weights_offline_give_one_clear_message(offline, tmp_path):
    path, url = weights_file("fasterrcnn_v2")
    assert path == tmp_path / "torch" / "hub" / "checkpoints" / "fasterrcnn_resnet50_fpn_v2_coco-dd69338a.pth"
    with pytest.raises(EstimatorError) as info:
        build_torchvision_detector("torchvision:fasterrcnn_v2")
    msg = str(info.value)
    assert offline == [url] and "\n" not in msg
    assert msg.startswith("torchvision:fasterrcnn_v2: its COCO weights fasterrcnn_resnet50_fpn_v2_coco-dd69338a.pth "
                          f"are not in torchvision's cache {path.parent}")
    assert f"put it in {path.parent}" in msg and "URLError" in msg and not path.exists()


def test_weights_placed_by_hand_load_without_a_download(offline, tmp_path):
    torch.manual_seed(0)
    random = build_torchvision_detector("ssdlite", weights=None)
    path, _ = weights_file("ssdlite")
    path.parent.mkdir(parents=True)
    torch.save(random.model.state_dict(), path)
    det = build_torchvision_detector("torchvision:ssdlite")
    assert offline == [] and det.weights_path == path
    for k, v in random.model.state_dict().items():
        torch.testing.assert_close(det.model.state_dict()[k], v)
    assert det.identity_file()["file"] == path.name and len(det.identity_file()["sha256"]) == 64


@pytest.fixture
def ssdlite_bundle(offline, tmp_path) -> Path:
    """A bundle naming torchvision's SSDlite (its weights placed in the temporary cache) with tiny networks."""
    torch.manual_seed(0)
    det = build_torchvision_detector("ssdlite", weights=None)
    force_label(det.model, "ssdlite", COCO_PERSON_LABEL)
    path, _ = weights_file("ssdlite")
    path.parent.mkdir(parents=True)
    torch.save(det.model.state_dict(), path)
    folder = tmp_path / "model"
    save_bundle(folder, {"detector": "torchvision:ssdlite", "rootnet": ROOT, "posenet": POSE},
                {"rootnet": build_network(ROOT), "posenet": build_network(POSE)},
                options={"max_people": 2, "flip_test": False}, name="tv", domain="own")
    return folder


def test_a_bundle_names_a_torchvision_detector(ssdlite_bundle, tmp_path):
    text = (ssdlite_bundle / "estimator.yaml").read_text()
    assert "detector:\n  torchvision: ssdlite\n" in text and not (ssdlite_bundle / "centernet.pth").exists()
    est = Estimator.from_bundle(ssdlite_bundle)
    assert est.detector.name == "ssdlite"
    result = est.estimate(picture(120, 160))
    assert len(result) == 2
    assert result.model["files"]["detector"]["file"] == "ssdlite320_mobilenet_v3_large_coco-a79551df.pth"
    with pytest.raises(EstimatorError, match="has no CenterNet"):
        Estimator.from_bundle(ssdlite_bundle, detector="centernet")
    with pytest.raises(EstimatorError, match="unknown detector 'torchvision:yolo'; valid: centernet, torch"):
        Estimator.from_bundle(ssdlite_bundle, detector="torchvision:yolo")
    bad = (ssdlite_bundle / "estimator.yaml").read_text().replace("torchvision: ssdlite", "torchvision: yolo")
    (ssdlite_bundle / "estimator.yaml").write_text(bad)
    with pytest.raises(EstimatorError, match=r"estimator.yaml: 'detector.torchvision': unknown detector 'yolo'"):
        Estimator.from_bundle(ssdlite_bundle)


def test_demo_detector_flag(ssdlite_bundle, tmp_path, capsys):
    image = tmp_path / "people.jpg"
    cv2.imwrite(str(image), picture(120, 160))
    out = tmp_path / "out"
    assert cli.main(["demo", "--model-dir", str(ssdlite_bundle), "--input", str(image), "--output", str(out)]) == 0
    assert len(json.loads((out / "people.json").read_text())["people"]) == 2
    # the bundled model's RootNet and PoseNet with a torchvision detector instead of its CenterNet
    assert cli.main(["demo", "--detector", "torchvision:ssdlite", "--input", str(image), "--output",
                     str(tmp_path / "out2")]) == 0
    got = json.loads((tmp_path / "out2" / "people.json").read_text())
    assert got["model"]["name"] == "posenet3d-synthetic" and len(got["people"]) > 0
    assert got["model"]["files"]["detector"]["file"] == "ssdlite320_mobilenet_v3_large_coco-a79551df.pth"
    capsys.readouterr()
    for bad, says in ((["--detector", "torchvision:yolo"], "valid: centernet, torchvision:fasterrcnn_v2"),
                      (["--detector", "yolo"], "no such file, nor a detector name (centernet, torchvision:"),
                      (["--detector", "centernet", "--rootnet", str(image), "--posenet", str(image), "--published"],
                       "names the bundle's CenterNet")):
        assert cli.main(["demo", "--input", str(image), *bad]) == 2
        err = capsys.readouterr().err
        assert says in err and len(err.strip().splitlines()) == 1


def test_demo_missing_weights_exit_2_with_the_file_and_folder(offline, tmp_path, capsys):
    path, _ = weights_file("retinanet")
    code = cli.main(["demo", "--detector", "torchvision:retinanet", "--input", str(REPO / "demo" / "images"),
                     "--output", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert path.name in err and str(path.parent) in err
