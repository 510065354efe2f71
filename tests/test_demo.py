"""The demo CLI end to end (tiny random-weight bundle) and the input handling of :mod:`posenet3d.media`."""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from cli_scripts import load_script

from posenet3d.config import ModelConfig, load_config
from posenet3d.estimator import build_network, save_bundle
from posenet3d.media import MediaError, VideoReader, discover_inputs, read_image, to_bgr
from posenet3d.skeletons import MUCO

demo = load_script("demo/demo.py")


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
                options={"max_people": 2, "det_nms_iou": None})
    return folder


def picture(h: int = 96, w: int = 96, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return cv2.GaussianBlur(rng.integers(0, 255, (h, w, 3), dtype=np.uint8), (5, 5), 0)


def run(bundle: Path, out: Path, *args: str) -> int:
    return demo.main(["--model-dir", str(bundle), "--output", str(out), *args])


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
                        "timings_ms"}
    assert doc["input"] == str(img_path) and doc["image_size"] == {"width": 128, "height": 96}
    assert "mm" in doc["units"]["joints_cam_mm"] and "mm" in doc["units"]["root_cam_mm"]
    assert "px" in doc["units"]["bbox"] and "px" in doc["units"]["joints_2d_px"]
    assert doc["intrinsics"]["fx"] == 3000.0 and doc["intrinsics"]["cx"] == 64.0
    assert doc["joint_names"] == list(MUCO.joints_name)
    assert doc["skeleton"] == [list(b) for b in MUCO.skeleton]
    assert len(doc["people"]) == 2
    for person in doc["people"]:
        assert np.asarray(person["bbox"]).shape == (4,) and 0 < person["score"] <= 1
        assert np.asarray(person["root_cam_mm"]).shape == (3,)
        assert np.asarray(person["joints_cam_mm"]).shape == (21, 3)
        assert np.asarray(person["joints_2d_px"]).shape == (21, 2)
    assert {"detector", "rootnet", "posenet", "total"} <= set(doc["timings_ms"])
    assert "1 of 1 inputs processed" in capsys.readouterr().out
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temporaries left


def test_demo_folder_with_a_bad_file(bundle, tmp_path, capsys):
    folder = tmp_path / "in"
    folder.mkdir()
    cv2.imwrite(str(folder / "good.png"), cv2.cvtColor(picture(), cv2.COLOR_BGR2GRAY))  # grey file
    (folder / "notes.txt").write_text("not an image")
    out = tmp_path / "vis"
    assert run(bundle, out, "--input", str(folder), "--intrinsics", "1000,1000,40,50", "--no-flip") == 1
    err = capsys.readouterr().err
    assert "notes.txt" in err and "cannot be decoded as an image" in err
    doc = json.loads((out / "good.json").read_text())
    assert doc["intrinsics"]["cx"] == 40.0 and len(doc["people"]) == 2
    assert not (out / "notes.json").exists()


def test_demo_names_each_bad_input(bundle, tmp_path, capsys):
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    tiny = tmp_path / "tiny.png"
    cv2.imwrite(str(tiny), np.zeros((1, 1, 3), np.uint8))
    good = tmp_path / "good.jpg"
    cv2.imwrite(str(good), picture())
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    missing = tmp_path / "missing.jpg"
    out = tmp_path / "vis"
    code = run(bundle, out, "--input", str(empty), str(tiny), str(cut), str(missing), str(good))
    assert code == 1
    err = capsys.readouterr().err
    lines = {line.split(": ", 1)[0].removeprefix("FAILED "): line for line in err.splitlines()
             if line.startswith("FAILED")}
    assert "empty (0 bytes)" in lines[str(empty)]
    assert "1x1 px, too small" in lines[str(tiny)]
    assert "truncated JPEG" in lines[str(cut)]
    assert "no such file" in lines[str(missing)]
    assert str(good) not in lines and (out / "good.json").is_file()


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


def test_demo_model_errors_exit_2(bundle, tmp_path, capsys):
    assert demo.main(["--model-dir", str(tmp_path / "nothing"), "--output", str(tmp_path / "o")]) == 2
    assert "estimator.yaml does not exist" in capsys.readouterr().err
    assert run(bundle, tmp_path / "o", "--rootnet", "x.pth") == 2
    assert "go together" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        run(bundle, tmp_path / "o", "--intrinsics", "1,2,3")


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
    assert [i.kind for i in items] == ["video", "image", "image", "image"]
    assert all(i.error is None for i in items)
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
