"""Your own boxes: the three formats of :mod:`posenet3d.detection.boxes_io` on fixtures, and the demo's ``--boxes``
end to end on the bundled images and model (the same people as the estimator given those boxes)."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from posenet3d import cli
from posenet3d.commands import REPO
from posenet3d.commands.demo import sidecar_camera
from posenet3d.detection.boxes_io import BoxesError, read_boxes

W, H = 200, 100  # the fixture images' size (px)


def write(path: Path, data) -> Path:
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return path


def test_coco_json_by_file_name_with_the_boxes_that_are_skipped(tmp_path):
    src = read_boxes(write(tmp_path / "dets.json", [
        {"file_name": "shots/photo.jpg", "bbox": [10, 20, 30, 40], "score": 0.9, "category_id": 1},
        {"file_name": "photo.jpg", "bbox": [180, 50, 60, 80], "score": 0.8},                # leaves the image
        {"file_name": "photo.jpg", "bbox": [50, 50, 0, 30], "score": 0.7, "category_id": 1},  # zero size
        {"file_name": "photo.jpg", "bbox": [-5, 10, 20, 20], "score": 0.7, "category_id": 1},  # negative
        {"file_name": "photo.jpg", "bbox": [5, float("nan"), 20, 20], "score": 0.7},          # NaN
        {"file_name": "photo.jpg", "bbox": [300, 10, 20, 20], "score": 0.7},                  # outside
        {"file_name": "photo.jpg", "bbox": [1, 1, 5, 5], "score": 0.99, "category_id": 3},    # a car
        {"file_name": "unknown.jpg", "bbox": [1, 1, 5, 5], "score": 0.5, "category_id": 1},
    ]))
    assert src.format == "coco" and not src.processed and src.other_classes == 1
    got = src.boxes_for(Path("elsewhere/photo.jpg"), W, H)
    np.testing.assert_array_equal(got.boxes_xywh, [[10, 20, 30, 40], [180, 50, 60, 80]])
    np.testing.assert_array_equal(got.scores, [0.9, 0.8])
    notes = " | ".join(got.notes)
    assert len(got.notes) == 4
    for what in ("entry[2]: box [50, 50, 0, 30] has zero size", "entry[3]: box [-5, 10, 20, 20] has negative",
                 "entry[4]: box [5, nan, 20, 20] has NaN", "entry[5]: box [300, 10, 20, 20] lies outside the 200x100"):
        assert what in notes
    assert src.boxes_for(Path("photo.png"), W, H) is not None  # same stem, other extension
    assert src.boxes_for(Path("nobody.jpg"), W, H) is None
    assert src.unused() == ["unknown.jpg"]


def test_coco_json_with_images_and_numeric_ids(tmp_path):
    src = read_boxes(write(tmp_path / "dets.json", {
        "images": [{"id": 7, "file_name": "val/a.jpg"}],
        "annotations": [{"image_id": 7, "bbox": [1, 2, 3, 4], "score": 0.5, "category_id": 1},
                        {"image_id": 397, "bbox": [5, 6, 7, 8], "score": 0.6, "category_id": 1},
                        {"image_id": 12, "bbox": [5, 6, 7, 8], "score": 0.6, "category_id": 1}]}))
    np.testing.assert_array_equal(src.boxes_for(Path("a.jpg"), W, H).boxes_xywh, [[1, 2, 3, 4]])
    np.testing.assert_array_equal(src.boxes_for(Path("000000000397.jpg"), W, H).boxes_xywh, [[5, 6, 7, 8]])
    assert src.unused() == ["image_id 12"]
    assert "3 person boxes for 3 images" in src.describe()


def test_the_reference_bbox_root_file_keeps_its_processed_boxes(tmp_path):
    """A 3DMPPE bbox_root record: processed boxes (they may start left of the image) used as they are."""
    src = read_boxes(write(tmp_path / "bbox_root_mupots_output.json", [
        {"image_id": 3, "bbox": [-12.5, 4.0, 80.0, 80.0], "root_cam": [10.0, 20.0, 4000.0], "score": 0.7}]))
    assert src.format == "bbox_root" and src.processed
    got = src.boxes_for(Path("3.jpg"), W, H)
    assert got.processed
    np.testing.assert_array_equal(got.boxes_xywh, [[-12.5, 4.0, 80.0, 80.0]])


def test_yolo_folder_by_stem_with_classes_scores_and_skipped_boxes(tmp_path):
    folder = tmp_path / "labels"
    folder.mkdir()
    write(folder / "photo.txt", "# a comment\n"
                                "0 0.5 0.5 0.2 0.4 0.75\n"      # person with a score
                                "2 0.5 0.5 0.2 0.4\n"           # class 2: not a person
                                "0 0.95 0.5 0.2 0.4\n"          # leaves the image on the right
                                "\n"
                                "0 0.5 0.5 0 0.4\n"             # zero size
                                "0 -0.1 0.5 0.2 0.4\n"          # negative
                                "0 nan 0.5 0.2 0.4\n")          # NaN
    write(folder / "bad.txt", "0 0.5 0.5 0.2 0.4\n0 0.5 0.5 0.2 0.4\n0 0.5 0.5 wide 0.4\n")
    write(folder / "elsewhere.txt", "")
    src = read_boxes(folder)
    assert src.format == "yolo"
    got = src.boxes_for(Path("x/photo.jpg"), W, H)
    np.testing.assert_allclose(got.boxes_xywh, [[80, 30, 40, 40], [170, 30, 40, 40]])
    np.testing.assert_array_equal(got.scores, [0.75, 1.0])
    assert [n.split(": ")[0] for n in got.notes] == ["photo.txt:6", "photo.txt:7", "photo.txt:8"]
    with pytest.raises(BoxesError, match=r"bad\.txt:3: expected 'class cx cy w h \[score\]'.*'0 0.5 0.5 wide 0.4'"):
        src.boxes_for(Path("bad.png"), W, H)
    assert src.unused() == ["elsewhere.txt"]
    person2 = read_boxes(folder, person_class=2).boxes_for(Path("photo.jpg"), W, H)
    np.testing.assert_allclose(person2.boxes_xywh, [[80, 30, 40, 40]])


def test_one_yolo_file_is_checked_when_read(tmp_path):
    src = read_boxes(write(tmp_path / "img1.txt", "0 0.5 0.5 0.5 0.5\n"))
    assert len(src.boxes_for(Path("img1.jpg"), W, H)) == 1
    with pytest.raises(BoxesError, match=r"img2\.txt:2: expected"):
        read_boxes(write(tmp_path / "img2.txt", "0 0.5 0.5 0.5 0.5\n0 0.5 0.5\n"))


@pytest.mark.parametrize("name, content, message", [
    ("boxes.csv", "x,y,w,h\n1,2,3,4\n", "not a boxes file in any of the formats tried"),
    ("boxes.json", {"boxes": []}, "not a boxes file in any of the formats tried"),
    ("boxes.json", [{"image_id": 1, "score": 0.3}], r"entry\[0\] \(image_id 1\) has no field 'bbox'"),
    ("boxes.json", [{"image_id": 1, "bbox": [1, 2, 3]}], r"entry\[0\] \(image_id 1\): 'bbox' must be 4 numbers"),
    ("boxes.json", [{"bbox": [1, 2, 3, 4]}], r"entry\[0\] has neither 'file_name' nor 'image_id'"),
])
def test_a_file_in_none_of_the_formats_says_what_was_tried(tmp_path, name, content, message):
    path = write(tmp_path / name, content)
    with pytest.raises(BoxesError, match=message) as info:
        read_boxes(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)
    if "formats tried" in message:
        assert "COCO detections JSON" in str(info.value) and "YOLO text" in str(info.value)
        assert "bbox_root" in str(info.value)


# ------------------------------------------------------------------------------------- the demo, end to end --

@pytest.fixture(scope="module")
def bundled_estimator():
    from posenet3d.estimator import Estimator
    return Estimator.from_bundle(REPO / "demo" / "model")


def test_demo_with_boxes_gives_the_estimators_people(bundled_estimator, tmp_path, capsys):
    images = sorted((REPO / "demo" / "images").glob("*.jpg"))
    assert len(images) == 3
    boxes = {images[0].name: [[211.0, 218.0, 52.0, 110.0], [151.8, 226.9, 42.2, 105.8]],
             images[1].name: [[300.0, 200.0, 60.0, 150.0]]}
    records = [{"file_name": name, "bbox": b, "score": 0.5 + 0.1 * i, "category_id": 1}
               for name, bs in boxes.items() for i, b in enumerate(bs)]
    records.append({"file_name": "not_in_the_input.jpg", "bbox": [1, 1, 10, 10], "score": 1, "category_id": 1})
    box_file = write(tmp_path / "dets.json", records)
    out = tmp_path / "out"
    code = cli.main(["demo", "--input", *map(str, images), "--boxes", str(box_file), "--output", str(out)])
    printed = capsys.readouterr().out
    assert code == 0
    assert printed.count("not_in_the_input.jpg") == 1 and "has boxes for 1 image not in the input" in printed
    for image in images:
        got = json.loads((out / f"{image.stem}.json").read_text())
        want_boxes = boxes.get(image.name, [])
        want = bundled_estimator.estimate_from_boxes(image, np.array(want_boxes).reshape(-1, 4),
                                                     [0.5 + 0.1 * i for i in range(len(want_boxes))],
                                                     **sidecar_camera(image)).to_dict()
        assert len(got["people"]) == len(want_boxes) == len(want["people"])
        for p, q in zip(got["people"], want["people"]):
            assert p["bbox"] == q["bbox"] and p["score"] == q["score"]
            np.testing.assert_allclose(p["joints_cam_mm"], q["joints_cam_mm"], atol=1e-3)
        if not want_boxes:
            assert got["notes"] == [f"no boxes for {image.name} in {box_file}: nobody was searched for"]


def test_bbox_root_boxes_are_the_crop_boxes(bundled_estimator):
    image = REPO / "demo" / "images" / "synth_ts1_000001.jpg"
    box = [180.0, 190.0, 100.0, 100.0]
    result = bundled_estimator.estimate_from_boxes(image, [box], processed=True)
    np.testing.assert_array_equal(result[0].crop_box, box)
    assert not np.allclose(bundled_estimator.estimate_from_boxes(image, [box])[0].crop_box, box)


def test_demo_boxes_bad_input_exits_2_or_names_the_input(tmp_path, capsys):
    bad = write(tmp_path / "boxes.yaml", "people: [1, 2]\n")
    image = REPO / "demo" / "images" / "synth_ts1_000001.jpg"
    assert cli.main(["demo", "--input", str(image), "--boxes", str(bad), "--output", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "formats tried" in err and len(err.strip().splitlines()) == 1
    assert cli.main(["demo", "--input", str(image), "--boxes", str(tmp_path / "missing.json")]) == 2
    assert "--boxes" in capsys.readouterr().err
    assert cli.main(["demo", "--input", str(image), "--boxes", str(bad), "--detector", "torchvision:fcos"]) == 2
    assert "exclude each other" in capsys.readouterr().err


def test_demo_boxes_nan_box_is_skipped_with_a_note(tmp_path, capsys):
    image = REPO / "demo" / "images" / "synth_ts2_000008.jpg"
    labels = tmp_path / "labels"
    labels.mkdir()
    write(labels / f"{image.stem}.txt", "0 0.5 0.5 0.1 0.2 0.9\n0 nan 0.5 0.1 0.2\n")
    out = tmp_path / "out"
    assert cli.main(["demo", "--input", str(image), "--boxes", str(labels), "--output", str(out)]) == 0
    got = json.loads((out / f"{image.stem}.json").read_text())
    assert len(got["people"]) == 1 and math.isclose(got["people"][0]["score"], 0.9)
    assert len(got["notes"]) == 1 and f"{image.stem}.txt:2" in got["notes"][0] and "NaN" in got["notes"][0]
    assert f"(note: {image.stem}.txt:2: box [nan, 0.5, 0.1, 0.2] has NaN" in capsys.readouterr().out


def test_boxes_need_no_detector(tmp_path, capsys):
    """With --boxes, --rootnet/--posenet run without any detector (Estimator.from_files(None, ...))."""
    import dataclasses

    import torch
    import yaml

    from posenet3d.config import ModelConfig
    from posenet3d.estimator import Estimator, EstimatorError, build_network
    files = {}
    for task in ("rootnet", "posenet"):
        cfg = ModelConfig(task=task, backbone_depth=18, backbone_width=0.25, pretrained="none", input_size=64,
                          depth_dim=8, head_channels=16)
        files[task] = (tmp_path / f"{task}.pth", tmp_path / f"{task}.yaml")
        torch.save(build_network(cfg).state_dict(), files[task][0])
        files[task][1].write_text(yaml.safe_dump({"model": {k: list(v) if isinstance(v, tuple) else v
                                                            for k, v in dataclasses.asdict(cfg).items()}}))
    image = REPO / "demo" / "images" / "synth_ts1_000001.jpg"
    est = Estimator.from_files(None, files["rootnet"][0], files["posenet"][0],
                               root_cfg=cli_model(files["rootnet"][1]), pose_cfg=cli_model(files["posenet"][1]))
    assert est.detector is None and "detector" not in est.identity["files"]
    with pytest.raises(EstimatorError, match="has no detector"):
        est.estimate(image)
    assert len(est.estimate_from_boxes(image, [[200, 210, 60, 120]])) == 1
    box_file = write(tmp_path / "dets.json", [{"file_name": image.name, "bbox": [200, 210, 60, 120], "score": 0.8}])
    out = tmp_path / "out"
    assert cli.main(["demo", "--input", str(image), "--boxes", str(box_file), "--output", str(out),
                     "--rootnet", str(files["rootnet"][0]), "--root-config", str(files["rootnet"][1]),
                     "--posenet", str(files["posenet"][0]), "--pose-config", str(files["posenet"][1])]) == 0
    assert len(json.loads((out / f"{image.stem}.json").read_text())["people"]) == 1
    capsys.readouterr()
    assert cli.main(["demo", "--input", str(image), "--rootnet", str(files["rootnet"][0]), "--root-config",
                     str(files["rootnet"][1]), "--posenet", str(files["posenet"][0]), "--pose-config",
                     str(files["posenet"][1])]) == 2
    assert "--detector may be left out with --boxes" in capsys.readouterr().err


def cli_model(path: Path):
    from posenet3d.config import load_config
    return load_config(path).model
