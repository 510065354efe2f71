"""The demo command end to end (tiny random-weight bundle), called through the console command's function
(:func:`posenet3d.cli.main`), and the input handling of :mod:`posenet3d.media`."""
from __future__ import annotations

import errno
import hashlib
import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
import yaml

from posenet3d import cli
from posenet3d.bundle import read_bundle
from posenet3d.commands import REPO, demo
from posenet3d.commands.demo_outputs import RECORD_FILE
from posenet3d.config import ModelConfig, load_config
from posenet3d.estimator import build_network, save_bundle
from posenet3d.media import MediaError, VideoReader, discover_inputs, read_image, to_bgr
from posenet3d.skeletons import MUCO


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    """A tiny bundle whose detector reports people everywhere (constant centre score 0.95, boxes 5×10 output
    px), cut to two people per image by the bundle's options."""
    torch.manual_seed(0)
    pose = ModelConfig(task="posenet", backbone_depth=18, backbone_width=0.25, pretrained="none", input_size=64,
                       depth_dim=8, head_channels=16)
    root = ModelConfig(task="rootnet", backbone_depth=18, backbone_width=0.25, pretrained="none", input_size=64,
                       head_channels=16)
    det_cfg = ModelConfig(task="centernet", arch="res_18", backbone_width=0.25, head_conv=8, input_size=64)
    det = build_network(det_cfg)
    with torch.no_grad():
        for head, bias in ((det.hm, [3.0]), (det.wh, [5.0, 10.0]), (det.reg, [0.0, 0.0])):
            head[-1].weight.zero_()
            head[-1].bias.copy_(torch.tensor(bias))
    folder = tmp_path_factory.mktemp("bundle") / "model"
    save_bundle(folder, {"detector": det_cfg, "rootnet": root, "posenet": pose},
                {"detector": det, "rootnet": build_network(root), "posenet": build_network(pose)},
                options={"max_people": 2, "det_nms_iou": None}, name="tiny", version="0.1")
    return folder


@pytest.fixture(scope="module")
def synthetic_bundle(bundle, tmp_path_factory) -> Path:
    """The tiny bundle, declared as trained on synthetic scenes only (as the bundled model is)."""
    folder = tmp_path_factory.mktemp("synthetic") / "model"
    shutil.copytree(bundle, folder)
    doc = yaml.safe_load((folder / "estimator.yaml").read_text())
    doc["model"]["domain"] = "synthetic"
    (folder / "estimator.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    return folder


def picture(h: int = 96, w: int = 96, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return cv2.GaussianBlur(rng.integers(0, 255, (h, w, 3), dtype=np.uint8), (5, 5), 0)


def run(bundle: Path, out: Path, *args: str) -> int:
    """``posenet3d demo --model-dir BUNDLE --output OUT ARGS`` through the console command's function."""
    return cli.main(["demo", "--model-dir", str(bundle), "--output", str(out), *args])


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}


def temporaries(folder: Path) -> list[str]:
    return [p.name for p in folder.iterdir() if p.name.startswith(".") and p.name != RECORD_FILE]


def test_demo_on_one_image_writes_overlay_figure_and_json(bundle, tmp_path, capsys):
    img_path = tmp_path / "people.jpg"
    cv2.imwrite(str(img_path), picture(96, 128))
    out = tmp_path / "vis"
    assert run(bundle, out, "--input", str(img_path), "--focal", "3000") == 0
    overlay = cv2.imread(str(out / "people_2d.jpg"))
    assert overlay is not None and overlay.shape == (96, 128, 3)
    assert cv2.imread(str(out / "people_3d.png")) is not None
    doc = json.loads((out / "people.json").read_text())
    assert set(doc) == {"input", "units", "image_size", "intrinsics", "people", "joint_names", "skeleton",
                        "timings_ms", "model", "notes"}
    assert doc["input"] == str(img_path) and doc["image_size"] == {"width": 128, "height": 96}
    assert "mm" in doc["units"]["joints_cam_mm"] and "mm" in doc["units"]["root_cam_mm"]
    assert "px" in doc["units"]["bbox"] and "px" in doc["units"]["joints_2d_px"]
    assert doc["intrinsics"]["fx"] == 3000.0 and doc["intrinsics"]["cx"] == 64.0
    assert doc["joint_names"] == list(MUCO.joints_name)
    assert doc["skeleton"] == [list(b) for b in MUCO.skeleton]
    assert len(doc["people"]) == 2 and doc["notes"] == []
    for person in doc["people"]:
        assert np.asarray(person["bbox"]).shape == (4,) and 0 < person["score"] <= 1
        assert np.asarray(person["root_cam_mm"]).shape == (3,)
        assert np.asarray(person["joints_cam_mm"]).shape == (21, 3)
        assert np.asarray(person["joints_2d_px"]).shape == (21, 2)
    assert {"detector", "rootnet", "posenet", "total"} <= set(doc["timings_ms"])
    stdout = capsys.readouterr().out
    assert "2 people →" in stdout and "1 of 1 inputs processed, 0 skipped (not images), 0 failed" in stdout
    assert not temporaries(out)


def test_result_json_carries_the_model_identity(bundle, tmp_path):
    img_path = tmp_path / "a.png"
    cv2.imwrite(str(img_path), picture())
    assert run(bundle, tmp_path / "vis", "--input", str(img_path)) == 0
    model = json.loads((tmp_path / "vis" / "a.json").read_text())["model"]
    assert {k: model[k] for k in ("name", "version", "domain")} == {"name": "tiny", "version": "0.1",
                                                                     "domain": "own"}
    for part, file in (("detector", "centernet.pth"), ("rootnet", "rootnet.pth"), ("posenet", "posenet.pth")):
        want = hashlib.sha256((bundle / file).read_bytes()).hexdigest()
        assert model["files"][part] == {"file": file, "sha256": want}
    recorded = yaml.safe_load((bundle / "estimator.yaml").read_text())["model"]
    assert recorded["files"] == {part: f["sha256"] for part, f in model["files"].items()}


def test_older_bundles_without_identity_still_load(bundle, tmp_path):
    folder = tmp_path / "old_model"
    shutil.copytree(bundle, folder)
    doc = yaml.safe_load((folder / "estimator.yaml").read_text())
    del doc["model"]
    (folder / "estimator.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    model = read_bundle(folder).model
    assert (model["name"], model["version"], model["domain"]) == ("old_model", None, "own")
    assert set(model["files"]) == {"detector", "rootnet", "posenet"}
    doc["model"] = {"domain": "real"}
    (folder / "estimator.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    with pytest.raises(ValueError, match="model.domain.*'real'"):
        read_bundle(folder)


def test_the_bundled_model_says_what_it_is():
    model = read_bundle(REPO / "demo" / "model").model
    assert model["name"] == "posenet3d-synthetic" and model["domain"] == "synthetic" and model["version"]


def test_synthetic_model_notes_once_per_run_except_on_its_demo_images(synthetic_bundle, tmp_path, capsys):
    for i in range(2):
        cv2.imwrite(str(tmp_path / f"photo{i}.jpg"), picture(seed=i))
    assert run(synthetic_bundle, tmp_path / "vis", "--input", str(tmp_path / "photo0.jpg"),
               str(tmp_path / "photo1.jpg"), "--no-flip") == 0
    err = capsys.readouterr().err
    assert err.count("trained on synthetic scenes only") == 1 and "--published" in err
    assert run(synthetic_bundle, tmp_path / "vis2", "--input", str(REPO / "demo" / "images"), "--no-flip") == 0
    captured = capsys.readouterr()
    assert "synthetic scenes" not in captured.err
    assert "3 of 7 inputs processed, 4 skipped (not images), 0 failed" in captured.out


def test_demo_folder_with_sidecars_and_a_readme_exits_0(bundle, tmp_path, capsys):
    folder = tmp_path / "in"
    folder.mkdir()
    cv2.imwrite(str(folder / "good.png"), cv2.cvtColor(picture(), cv2.COLOR_BGR2GRAY))  # grey file
    (folder / "good.camera.json").write_text('{"intrinsics": [1000, 1000, 40, 50]}')
    (folder / "README.md").write_text("# my photos")
    (folder / "notes.txt").write_text("not an image")
    out = tmp_path / "vis"
    assert run(bundle, out, "--input", str(folder), "--no-flip") == 0
    stdout = capsys.readouterr().out
    assert "1 of 4 inputs processed, 3 skipped (not images), 0 failed" in stdout
    doc = json.loads((out / "good.json").read_text())
    assert doc["intrinsics"]["cx"] == 40.0 and len(doc["people"]) == 2  # from the sidecar
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == [
        "good.json", "good_2d.jpg", "good_3d.html", "good_3d.png", "plotly.min.js"]
    # a file with an image extension that is not an image still fails, named, and the others go on
    (folder / "broken.jpg").write_bytes(b"\xff\xd8 not a jpeg \xff\xd9")
    assert run(bundle, out, "--input", str(folder), "--no-flip") == 1
    captured = capsys.readouterr()
    assert "broken.jpg" in captured.err and "cannot be decoded as an image" in captured.err
    assert "1 of 5 inputs processed, 3 skipped (not images), 1 failed" in captured.out


def test_demo_names_each_bad_input(bundle, tmp_path, capsys):
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    good = tmp_path / "good.jpg"
    cv2.imwrite(str(good), picture())
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    missing = tmp_path / "missing.jpg"
    out = tmp_path / "vis"
    code = run(bundle, out, "--input", str(empty), str(cut), str(missing), str(good))
    assert code == 1
    err = capsys.readouterr().err
    lines = {line.split(": ", 1)[0].removeprefix("FAILED "): line for line in err.splitlines()
             if line.startswith("FAILED")}
    assert "empty (0 bytes)" in lines[str(empty)]
    assert "truncated JPEG" in lines[str(cut)]
    assert "no such file" in lines[str(missing)]
    assert str(good) not in lines and (out / "good.json").is_file()


@pytest.mark.parametrize("shape", [(1, 1), (3, 5000)])
def test_an_image_too_small_for_a_person_is_an_empty_result_with_a_note(bundle, tmp_path, capsys, shape):
    tiny = tmp_path / "tiny.png"
    cv2.imwrite(str(tiny), np.full((*shape, 3), 128, np.uint8))
    assert run(bundle, tmp_path / "vis", "--input", str(tiny)) == 0
    doc = json.loads((tmp_path / "vis" / "tiny.json").read_text())
    assert doc["people"] == [] and "too small to hold a person" in doc["notes"][0]
    assert doc["image_size"] == {"width": shape[1], "height": shape[0]}
    stdout = capsys.readouterr().out
    assert "0 people" in stdout and "too small" in stdout


def test_one_person_is_one_person(bundle, tmp_path, capsys):
    cv2.imwrite(str(tmp_path / "a.jpg"), picture())
    assert run(bundle, tmp_path / "vis", "--input", str(tmp_path / "a.jpg"), "--max-people", "1") == 0
    assert "1 person →" in capsys.readouterr().out


def test_demo_exif_orientation_upright(bundle, tmp_path):
    """A phone photo stored landscape with EXIF orientation 6 (rotate 90° clockwise) is processed upright."""
    from PIL import Image
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(picture(64, 96)[:, :, ::-1]).save(tmp_path / "phone.jpg", exif=exif.tobytes())
    assert run(bundle, tmp_path / "vis", "--input", str(tmp_path / "phone.jpg")) == 0
    doc = json.loads((tmp_path / "vis" / "phone.json").read_text())
    assert doc["image_size"] == {"width": 64, "height": 96}
    assert cv2.imread(str(tmp_path / "vis" / "phone_2d.jpg")).shape == (96, 64, 3)


# --------------------------------------------------------------------------------- never lose a byte --

def test_output_into_the_input_folder_leaves_every_input_byte_identical(bundle, tmp_path, capsys):
    folder = tmp_path / "shots"
    folder.mkdir()
    for i, name in enumerate(("img.jpg", "img_2d.jpg", "other.jpg", "third.png")):
        cv2.imwrite(str(folder / name), picture(seed=i))
    (folder / "other.json").write_text('{"mine": "a user\'s file"}')
    (folder / "third.camera.json").write_text('{"intrinsics": [900, 900, 48, 48]}')
    before = snapshot(folder)
    assert run(bundle, folder, "--input", str(folder)) == 1
    err = capsys.readouterr().err
    assert {k: v for k, v in snapshot(folder).items() if k in before} == before
    assert "img.jpg: its output" in err and "img_2d.jpg would replace an input of this run" in err
    assert "other.json exists and was not written by posenet3d" in err and "--overwrite" in err
    assert (folder / "third.json").is_file() and (folder / "img_2d_2d.jpg").is_file()
    # a second run skips the first run's outputs and replaces them (they are its own), still no input touched
    again = snapshot(folder)
    assert run(bundle, folder, "--input", str(folder)) == 1
    assert "outputs of an earlier run" in capsys.readouterr().out
    assert {k: v for k, v in snapshot(folder).items() if k in before} == before
    assert set(snapshot(folder)) == set(again)
    # --overwrite replaces a user's file, never an input
    assert run(bundle, folder, "--input", str(folder), "--overwrite") == 1
    assert json.loads((folder / "other.json").read_text())["input"] == str(folder / "other.jpg")
    assert {k: v for k, v in snapshot(folder).items() if k in before and k != "other.json"} == {
        k: v for k, v in before.items() if k != "other.json"}
    assert not temporaries(folder)


def test_a_file_changed_by_hand_is_not_replaced(bundle, tmp_path, capsys):
    cv2.imwrite(str(tmp_path / "a.jpg"), picture())
    out = tmp_path / "vis"
    assert run(bundle, out, "--input", str(tmp_path / "a.jpg")) == 0
    assert run(bundle, out, "--input", str(tmp_path / "a.jpg")) == 0  # its own outputs: replaced
    (out / "a.json").write_text('{"edited": true}')
    capsys.readouterr()
    assert run(bundle, out, "--input", str(tmp_path / "a.jpg")) == 1
    assert "a.json exists and was not written by posenet3d" in capsys.readouterr().err
    assert (out / "a.json").read_text() == '{"edited": true}'


def test_a_full_disk_leaves_no_partial_set(bundle, tmp_path, monkeypatch, capsys):
    cv2.imwrite(str(tmp_path / "a.jpg"), picture())
    cv2.imwrite(str(tmp_path / "b.jpg"), picture(seed=1))
    out = tmp_path / "vis"
    assert run(bundle, out, "--input", str(tmp_path / "a.jpg")) == 0
    good = snapshot(out)
    real = Path.write_bytes

    def disk_full(self: Path, data: bytes) -> int:  # the JSON (the third file of a set) hits a full disk
        if self.name.startswith((".a.json.", ".b.json.")):
            with open(self, "wb") as f:
                f.write(data[: len(data) // 2])
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(self, data)

    monkeypatch.setattr(Path, "write_bytes", disk_full)
    assert run(bundle, out, "--input", str(tmp_path / "a.jpg"), str(tmp_path / "b.jpg"), "--no-flip") == 1
    assert "No space left on device" in capsys.readouterr().err
    assert snapshot(out) == good  # a's earlier set intact, nothing of b, no temporaries


def test_demo_arguments_are_checked_before_loading(tmp_path, capsys):
    empty_model = tmp_path / "model"
    empty_model.mkdir()
    cases = {("--device", "gpu7"): "--device gpu7: not a device",
             ("--focal", "-5"): "--focal -5: the focal length must be a finite positive",
             ("--focal", "0"): "--focal 0:", ("--focal", "nan"): "--focal nan:",
             ("--intrinsics", "1,2,3"): "fx,fy,cx,cy", ("--intrinsics", "0,1,2,3"): "must be finite and positive",
             ("--det-thresh", "2"): "--det-thresh 2: a detector score threshold is in [0, 1)",
             ("--max-people", "0"): "--max-people 0", ("--threads", "-1"): "--threads -1",
             ("--rootnet", "x.pth"): "go together",
             ("--output", __file__): "is not a folder"}
    if not torch.cuda.is_available():
        cases[("--device", "cuda")] = "CUDA is not available"
    for args, message in [*cases.items(), (("--focal", "x"), "invalid float value")]:
        try:
            code = run(empty_model, tmp_path / "o", *args)
        except SystemExit as exc:  # argparse's own checks (a value that is not a number) exit from the parser
            code = exc.code
        assert code == 2, args
        err = capsys.readouterr().err
        assert message in err and "cannot load the model" not in err, (args, err)
        assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert not (tmp_path / "o").exists()


def test_demo_model_errors_exit_2(bundle, tmp_path, capsys):
    assert run(tmp_path / "nothing", tmp_path / "o") == 2
    assert "--model-dir" in capsys.readouterr().err
    empty = tmp_path / "empty"
    empty.mkdir()
    assert run(empty, tmp_path / "o") == 2
    err = capsys.readouterr().err
    assert "estimator.yaml does not exist" in err and "give --model-dir" not in err  # it was given
    assert cli.main(["demo", "--published"]) == 2
    assert "give those too" in capsys.readouterr().err
    with pytest.raises(SystemExit) as info:
        cli.main(["demo", "--help"])
    assert info.value.code == 0 and "posenet3d demo --input photo.jpg" in capsys.readouterr().out


def test_demo_script_is_the_command():
    text = (REPO / "demo" / "demo.py").read_text()
    assert "from posenet3d.commands.demo import main" in text and 'main(prog="demo/demo.py")' in text
    assert cli.COMMANDS["demo"][0] == "demo" and cli.COMMANDS["pool"][0] == "pool"
    assert demo.DEFAULT_MODEL_DIR == REPO / "demo" / "model" and demo.DEFAULT_OUTPUT == REPO / "output" / "vis"


def write_video(path: Path, frames: int, fourcc: str = "mp4v", size=(96, 64)) -> None:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), 10.0, size)
    assert writer.isOpened()
    base = picture(size[1], size[0])
    for i in range(frames):
        writer.write(np.roll(base, 4 * i, axis=1))
    writer.release()


def test_demo_on_a_video(bundle, tmp_path):
    video = tmp_path / "clip.mp4"
    write_video(video, 5)
    out = tmp_path / "vis"
    assert run(bundle, out, "--input", str(video)) == 0
    with VideoReader(out / "clip_vis.mp4") as reader:
        frames = [f for _, f in reader]
        assert reader.fps == pytest.approx(10.0)
    assert len(frames) == 5
    assert frames[0].shape[0] == 64 and frames[0].shape[1] > 96  # overlay beside the 3D views
    records = [json.loads(line) for line in (out / "clip.jsonl").read_text().splitlines()]
    assert [r["frame"] for r in records] == [0, 1, 2, 3, 4]
    assert all(len(r["people"]) == 2 and r["joint_names"] == list(MUCO.joints_name) for r in records)
    assert records[1]["time_s"] == pytest.approx(0.1)
    # every tracked person's frames in the tracks file are the frames its id appears in the JSON lines (this
    # bundle's random weights move people too much for stable ids: test_video.py checks those)
    seen: dict[int, list[int]] = {}
    for r in records:
        for p in r["people"]:
            if p["track_id"] is not None:
                seen.setdefault(p["track_id"], []).append(r["frame"])
                assert np.asarray(p["joints_cam_mm_smoothed"]).shape == (MUCO.joint_num, 3)
    tracks = json.loads((out / "clip_tracks.json").read_text())
    assert {t["track_id"]: t["frames"] for t in tracks["tracks"]} == seen and tracks["smoothing"] == "online"
    t = tracks["tracks"][0]
    assert np.asarray(t["joints_cam_mm_smoothed"]).shape == (len(t["frames"]), MUCO.joint_num, 3)


def test_demo_video_start_max_frames_and_offline_smoothing(bundle, tmp_path):
    video = tmp_path / "clip.mp4"
    write_video(video, 8)
    out = tmp_path / "vis"
    assert run(bundle, out, "--input", str(video), "--start", "2", "--max-frames", "4", "--smooth", "offline",
               "--no-video-3d") == 0
    records = [json.loads(line) for line in (out / "clip.jsonl").read_text().splitlines()]
    assert [r["frame"] for r in records] == [2, 3, 4, 5]
    assert json.loads((out / "clip_tracks.json").read_text())["smoothing"] == "offline"
    assert run(bundle, tmp_path / "x", "--input", str(video), "--max-frames", "0") == 2


def test_demo_on_a_video_that_ends_early(bundle, tmp_path, capsys):
    video = tmp_path / "cut.avi"
    write_video(video, 10, fourcc="MJPG")
    data = video.read_bytes()
    video.write_bytes(data[: int(len(data) * 0.6)])
    out = tmp_path / "vis"
    assert run(bundle, out, "--input", str(video), "--no-video-3d") == 1
    err = capsys.readouterr().err
    assert str(video) in err and "ended early" in err
    lines = (out / "cut.jsonl").read_text().splitlines()
    assert 0 < len(lines) < 10  # what could be read is kept


def corrupt_frame(video: Path, index: int) -> None:
    """Zero the JPEG data of frame ``index`` of an MJPG file (its markers gone: the decoder rejects it)."""
    data = bytearray(video.read_bytes())
    soi = [i for i in range(len(data) - 1) if data[i] == 0xFF and data[i + 1] == 0xD8]
    data[soi[index]:soi[index + 1] - 8] = bytes(soi[index + 1] - 8 - soi[index])
    video.write_bytes(bytes(data))


def test_video_reader_skips_a_corrupt_frame_in_the_middle(tmp_path):
    video = tmp_path / "bad.avi"
    write_video(video, 12, fourcc="MJPG")
    corrupt_frame(video, 5)
    with VideoReader(video) as reader:
        indices = [i for i, _ in reader]
        reader.check_complete()  # the gap is not an early end
    assert indices == [0, 1, 2, 3, 4, 6, 7, 8, 9, 10, 11] and reader.skipped == [5]


def test_demo_on_a_video_with_a_corrupt_frame(bundle, tmp_path, capsys):
    video = tmp_path / "bad.avi"
    write_video(video, 10, fourcc="MJPG")
    corrupt_frame(video, 4)
    out = tmp_path / "vis"
    assert run(bundle, out, "--input", str(video), "--no-video-3d", "--start", "1", "--max-frames", "6") == 0
    captured = capsys.readouterr()
    assert "bad.avi: 1 frame(s) could not be decoded and were skipped" in captured.out + captured.err
    assert ": 4" in captured.out + captured.err
    records = [json.loads(line) for line in (out / "bad.jsonl").read_text().splitlines()]
    assert [r["frame"] for r in records] == [1, 2, 3, 5, 6]  # frame 4 left out, frames keep their place
    tracks = json.loads((out / "bad_tracks.json").read_text())["tracks"]
    assert all(4 not in t["frames"] for t in tracks)


def test_output_names_are_distinct():
    from posenet3d.media import InputItem
    items = [InputItem(Path("a/x.jpg"), "image"), InputItem(Path("b/x.jpg"), "image"),
             InputItem(Path("a/x.png"), "image"), InputItem(Path("c/x.jpg"), "image")]
    assert list(demo.output_bases(items).values()) == ["x", "x_jpg", "x_png", "x_jpg_2"]


# ------------------------------------------------------------------------------------------------ media --

def test_discover_inputs_folder_glob_and_missing(tmp_path):
    for name in ("img10.jpg", "img2.jpg", "clip.MP4", ".hidden.jpg", "readme.txt"):
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "sub").mkdir()
    items = discover_inputs(tmp_path)
    assert [i.path.name for i in items] == ["clip.MP4", "img2.jpg", "img10.jpg", "readme.txt"]
    assert [i.kind for i in items] == ["video", "image", "image", "other"]  # not an image by its extension
    assert all(i.error is None for i in items)
    assert discover_inputs(tmp_path / "readme.txt")[0].kind == "image"  # named: tried as an image
    globbed = discover_inputs(str(tmp_path / "img*.jpg"))
    assert [i.path.name for i in globbed] == ["img2.jpg", "img10.jpg"]
    nothing = discover_inputs([str(tmp_path / "zz*.png"), tmp_path / "gone.jpg", tmp_path / "img2.jpg"])
    assert "no file matches" in nothing[0].error and "no such file" in nothing[1].error
    assert nothing[2].error is None
    assert len(discover_inputs([tmp_path / "img2.jpg", tmp_path / "img2.jpg"])) == 1


def test_to_bgr_converts_once_and_never_copies_bgr():
    bgr = picture()
    assert to_bgr(bgr) is bgr
    view = bgr[10:50, 5:60]
    assert np.shares_memory(to_bgr(view), bgr)
    flipped = bgr[:, ::-1]
    np.testing.assert_array_equal(to_bgr(flipped), flipped)
    grey = bgr[:, :, 0].copy()
    np.testing.assert_array_equal(to_bgr(grey), np.repeat(grey[:, :, None], 3, axis=2))
    bgra = np.dstack([bgr, np.zeros_like(grey)])
    np.testing.assert_array_equal(to_bgr(bgra), bgr)
    with pytest.raises(MediaError, match="frame 3: expected 8-bit"):
        to_bgr(bgr.astype(np.uint16), "frame 3")


def test_read_image_errors_name_the_file(tmp_path):
    with pytest.raises(MediaError, match="no such file"):
        read_image(tmp_path / "nope.png")
    with pytest.raises(MediaError, match="not a regular file"):
        read_image(tmp_path)
    good = tmp_path / "ok.jpg"
    cv2.imwrite(str(good), picture())
    assert read_image(good).shape == (96, 96, 3)
    (tmp_path / "junk.png").write_bytes(b"\x89PNG not really")
    with pytest.raises(MediaError, match=r"junk.png: cannot be decoded"):
        read_image(tmp_path / "junk.png")
    (tmp_path / "fake.mp4").write_text("not a video")
    with pytest.raises(MediaError, match="fake.mp4: cannot be opened as a video"):
        VideoReader(tmp_path / "fake.mp4")
    (tmp_path / "zero.mp4").write_bytes(b"")
    with pytest.raises(MediaError, match="zero.mp4: the file is empty"):
        VideoReader(tmp_path / "zero.mp4")


def test_read_image_16_bit_and_float(tmp_path):
    """16-bit files keep their top 8 bits; float files (a 32-bit float TIFF) map [0, 1] to 0..255, or stretch
    their min..max; other sample types are refused with their name."""
    rng = np.random.default_rng(0)
    deep = rng.integers(0, 65536, (20, 30, 3), dtype=np.uint16)
    for name in ("deep.png", "deep.tif"):
        cv2.imwrite(str(tmp_path / name), deep)
        np.testing.assert_array_equal(read_image(tmp_path / name), (deep >> 8).astype(np.uint8))
    unit = rng.random((20, 30, 3)).astype(np.float32)
    cv2.imwrite(str(tmp_path / "unit.tif"), unit)
    np.testing.assert_array_equal(read_image(tmp_path / "unit.tif"), np.rint(unit * 255).astype(np.uint8))
    wide = (unit * 4000.0 - 1000.0).astype(np.float32)
    cv2.imwrite(str(tmp_path / "wide.tif"), wide)
    got = read_image(tmp_path / "wide.tif")
    assert got.min() == 0 and got.max() == 255
    grey = np.linspace(0, 1, 20 * 30, dtype=np.float32).reshape(20, 30)
    cv2.imwrite(str(tmp_path / "grey.tif"), grey)
    assert read_image(tmp_path / "grey.tif").shape == (20, 30, 3)
    from posenet3d.media import _to_8bit
    with pytest.raises(MediaError, match="x.tif: int32 samples are not supported"):
        _to_8bit(Path("x.tif"), np.zeros((2, 2), np.int32))


def test_read_image_exif_orientation(tmp_path):
    """Pixels as stored by default (datasets), upright as the EXIF orientation tag says on request."""
    from PIL import Image
    img = picture(40, 60)
    for tag in (3, 6, 8):
        exif = Image.Exif()
        exif[0x0112] = tag
        Image.fromarray(img[:, :, ::-1]).save(tmp_path / f"o{tag}.jpg", exif=exif.tobytes(), quality=95)
        stored = read_image(tmp_path / f"o{tag}.jpg")
        upright = read_image(tmp_path / f"o{tag}.jpg", orientation="exif")
        assert stored.shape == (40, 60, 3)
        turn = {3: cv2.ROTATE_180, 6: cv2.ROTATE_90_CLOCKWISE, 8: cv2.ROTATE_90_COUNTERCLOCKWISE}[tag]
        np.testing.assert_array_equal(upright, cv2.rotate(stored, turn))
    cv2.imwrite(str(tmp_path / "plain.jpg"), img)  # no tag: the same either way
    np.testing.assert_array_equal(read_image(tmp_path / "plain.jpg", orientation="exif"),
                                  read_image(tmp_path / "plain.jpg"))
    with pytest.raises(ValueError, match="orientation"):
        read_image(tmp_path / "plain.jpg", orientation="upright")


def test_sidecar_camera_json(tmp_path):
    module = demo
    img = tmp_path / "a.jpg"
    assert module.sidecar_camera(img) == {}
    (tmp_path / "a.camera.json").write_text('{"intrinsics": [500, 510, 320, 240]}')
    assert module.sidecar_camera(img) == {"intrinsics": (500.0, 510.0, 320.0, 240.0)}
    (tmp_path / "a.camera.json").write_text('{"focal": 3}')
    with pytest.raises(MediaError, match=r"a\.camera\.json"):
        module.sidecar_camera(img)


def test_make_bundle_cli_packages_three_snapshots(tmp_path, capsys):
    """``posenet3d bundle make`` reads CONFIG:SNAPSHOT for each network and stores the detector options."""
    from posenet3d.commands import bundle_make as cli
    common = "model:\n  backbone_depth: 18\n  backbone_width: 0.25\n  pretrained: none\n  input_size: 64\n"
    configs = {"detector": common + "  task: centernet\n  arch: res_18\n  head_conv: 8\n",
               "rootnet": common + "  task: rootnet\n  head_channels: 16\n",
               "posenet": common + "  task: posenet\n  depth_dim: 8\n  head_channels: 16\n"}
    args = []
    for part, text in configs.items():
        (tmp_path / f"{part}.yaml").write_text(f"name: {part}\n" + text)
        snap = tmp_path / f"{part}.pth.tar"
        torch.save({"network": build_network(load_config(tmp_path / f"{part}.yaml").model).state_dict()}, snap)
        args += [f"--{part}", f"{tmp_path / (part + '.yaml')}:{snap}"]
    out = tmp_path / "bundle"
    assert cli.main([*args, "--out", str(out), "--det-thresh", "0.25", "--det-input-size", "96",
                     "--det-flip-test"]) == 0
    assert "wrote" in capsys.readouterr().out
    from posenet3d.estimator import Estimator
    est = Estimator.from_bundle(out)
    assert est.det_score_thresh == 0.25 and est.det_input_size == 96 and est.det_flip_test
    # a snapshot of the wrong network is one clear error, and the bundle already written stays as it was
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    bad = [a.replace("posenet.pth.tar", "rootnet.pth.tar") if a.endswith("posenet.pth.tar") else a for a in args]
    assert cli.main([*bad, "--out", str(out)]) == 2
    assert "rootnet.pth.tar" in capsys.readouterr().err
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_bundle_to_snapshot_resumes_training_from_a_bundle(tiny_world, tmp_path, tiny_config, capsys):
    """``posenet3d bundle to-snapshot`` writes a snapshot that holds the bundle's weights and that
    ``train(..., resume=True)`` continues from; it never replaces an existing snapshot."""
    from posenet3d.checkpoint import list_snapshots, load_file
    from posenet3d.engine import train
    cfgs = {"detector": tiny_config(tiny_world, tmp_path, "centernet", "model.arch=res_18", "model.head_conv=8"),
            "rootnet": tiny_config(tiny_world, tmp_path, "rootnet"),
            "posenet": tiny_config(tiny_world, tmp_path, "posenet")}
    torch.manual_seed(0)
    models = {part: build_network(cfg.model) for part, cfg in cfgs.items()}
    save_bundle(tmp_path / "bundle", cfgs, models)
    cfg_file = tmp_path / "rootnet.yaml"
    from posenet3d.config import dump_config
    dump_config(cfgs["rootnet"], cfg_file)
    out_dir = tmp_path / "run"
    from posenet3d.commands import bundle_to_snapshot as cli
    args = ["--bundle", str(tmp_path / "bundle"), "--part", "rootnet", "--cfg", str(cfg_file), "--epoch", "1",
            f"output_dir={out_dir}"]
    assert cli.main(args) == 0
    snap = load_file(out_dir / "model_dump" / "snapshot_1.pth.tar")
    want = models["rootnet"].state_dict()
    assert snap["epoch"] == 1 and snap["task"] == "rootnet"
    for k, v in snap["network"].items():
        assert v.dtype == want[k].dtype
        if v.is_floating_point():  # the bundle's fp16 rounding, widened back
            torch.testing.assert_close(v, want[k].half().to(v.dtype), rtol=0, atol=0)
    # a second run would replace it: refused, the file unchanged
    before = (out_dir / "model_dump" / "snapshot_1.pth.tar").read_bytes()
    assert cli.main(args) == 2 and "already exists" in capsys.readouterr().err
    assert (out_dir / "model_dump" / "snapshot_1.pth.tar").read_bytes() == before
    # the wrong network for the config is one clear error
    assert cli.main([*args[:3], "posenet", *args[4:-2], "0", f"output_dir={tmp_path / 'other'}"]) == 2
    assert "'rootnet'" in capsys.readouterr().err
    # training continues at epoch 2
    train(tiny_config(tiny_world, out_dir, "rootnet", "train.end_epoch=3"), resume=True)
    assert [e for e, _ in list_snapshots(out_dir / "model_dump")] == [1, 2]


def test_video_axes_ignore_a_few_wild_depths():
    from posenet3d.commands.demo_video import clip_limits
    rng = np.random.default_rng(0)
    frames = [[np.c_[rng.normal(0, 300, (21, 2)), rng.normal(4000, 200, 21)]] for _ in range(60)]
    frames[7][0][:, 2] = 60000.0  # one frame's person placed 60 m away
    lim = clip_limits(frames)
    assert lim.top_z[1] < 10000.0 and lim.top_z[0] < 4000.0 < lim.top_z[1]
    assert clip_limits([[], []]) is None
