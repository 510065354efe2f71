"""Every JSON file the demo writes (images, video frames, tracks, BVH index) validates against the JSON Schemas
shipped in posenet3d/schemas, and a file that drifts from them does not."""
from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from test_demo import bundle, picture, run, write_video  # noqa: F401  (the tiny bundle fixture and helpers)

from posenet3d.schemas import NAMES, load_schema, schema_path, validator

jsonschema = pytest.importorskip("jsonschema", reason="the schema tests need jsonschema (the test extra)")


def errors(name: str, doc) -> list[str]:
    return [f"{e.json_path}: {e.message}" for e in validator(name).iter_errors(doc)]


def test_the_schemas_are_valid_draft_2020_12_and_ship_with_the_package():
    for name in NAMES:
        assert schema_path(name).is_file()
        jsonschema.Draft202012Validator.check_schema(load_schema(name))


def test_every_json_the_demo_writes_validates(bundle, tmp_path):  # noqa: F811
    cv2.imwrite(str(tmp_path / "people.jpg"), picture(96, 128))
    cv2.imwrite(str(tmp_path / "tiny.png"), np.full((1, 1, 3), 128, np.uint8))  # nobody: an empty result
    write_video(tmp_path / "clip.mp4", 6)
    out = tmp_path / "vis"
    assert run(bundle, out, "--input", str(tmp_path / "people.jpg"), str(tmp_path / "tiny.png"),
               str(tmp_path / "clip.mp4"), "--no-video-3d", "--no-html", "--bvh") == 0
    kinds = {"people.json": "result", "tiny.json": "result", "clip_tracks.json": "tracks",
             "clip_bvh.json": "bvh_index", ".posenet3d-outputs.json": "outputs_record"}
    written = sorted(p.name for p in out.glob("*.json*"))
    assert written == sorted([*kinds, "clip.jsonl"])
    for name, kind in kinds.items():
        assert errors(kind, json.loads((out / name).read_text())) == [], name
    lines = (out / "clip.jsonl").read_text().splitlines()
    assert len(lines) == 6
    for line in lines:
        assert errors("frame", json.loads(line)) == []


def test_drift_from_the_schema_is_caught(bundle, tmp_path):  # noqa: F811
    cv2.imwrite(str(tmp_path / "a.jpg"), picture())
    assert run(bundle, tmp_path / "vis", "--input", str(tmp_path / "a.jpg"), "--no-html") == 0
    doc = json.loads((tmp_path / "vis" / "a.json").read_text())
    assert errors("result", doc) == []
    assert errors("frame", doc)  # a result is no video frame: frame, time_s, track ids missing
    bad = json.loads(json.dumps(doc))
    bad["people"][0]["joints_cam_mm"][0] = [1.0, 2.0]  # not x, y, z
    bad["people"][0]["renamed"] = 1
    del bad["intrinsics"]["fx"]
    found = " | ".join(errors("result", bad))
    assert "joints_cam_mm[0]" in found and "renamed" in found and "'fx' is a required property" in found
