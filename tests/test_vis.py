"""Tests for posenet3d.vis: 2D overlay, 3D figure (equal scales, colours), atomic saving, composition."""
from __future__ import annotations

import os

import cv2
import numpy as np
import pytest

from posenet3d import vis
from posenet3d.skeletons import MUPOTS

BONES = ((0, 1), (1, 2))


def _color_close(pixel: np.ndarray, color, tol: int = 30) -> bool:
    return int(np.abs(pixel.astype(int) - np.asarray(color, dtype=int)).max()) <= tol


def _two_people_2d():
    # person 0: horizontal bone along y=30, vertical bone along x=60; person 1 far to the right
    return [
        {"joints_2d": np.array([[20.0, 30.0], [60.0, 30.0], [60.0, 80.0]]), "bbox": [10, 10, 70, 90], "score": 0.9},
        {"joints_2d": np.array([[100.0, 40.0], [140.0, 40.0], [140.0, 100.0]]), "score": 0.4},
    ]


def test_person_colors_distinct_and_stable():
    colors = vis.person_colors(8)
    assert len(colors) == 8 and len(set(colors)) == 8
    assert all(len(c) == 3 and all(0 <= v <= 255 for v in c) for c in colors)
    assert vis.person_colors(3) == colors[:3]
    assert vis.person_colors(0) == []
    with pytest.raises(ValueError, match="non-negative"):
        vis.person_colors(-1)


def test_draw_2d_colours_bones_and_leaves_input_unchanged():
    image = np.full((120, 160, 3), 10, dtype=np.uint8)
    before = image.copy()
    people = _two_people_2d()
    out = vis.draw_2d(image, people, BONES)
    colors = vis.person_colors(2)

    assert out.shape == image.shape and out.dtype == np.uint8
    assert np.array_equal(image, before)
    assert out is not image
    # bone midpoints carry the person's colour, not the other person's
    assert _color_close(out[30, 40], colors[0])
    assert _color_close(out[55, 60], colors[0])
    assert _color_close(out[40, 120], colors[1])
    assert _color_close(out[70, 140], colors[1])
    assert not _color_close(out[40, 120], colors[0], tol=60)
    # far from everything the image is untouched
    assert np.array_equal(out[115, 5], before[115, 5])


def test_draw_2d_grey_input_and_hidden_joints():
    grey = np.full((120, 160), 50, dtype=np.uint8)
    before = grey.copy()
    people = _two_people_2d()[:1]
    out = vis.draw_2d(grey, people, BONES, joint_vis=[np.array([1.0, 1.0, 0.0])])
    assert out.shape == (120, 160, 3)
    assert np.array_equal(grey, before)
    color = vis.person_colors(1)[0]
    assert _color_close(out[30, 40], color)
    assert np.array_equal(out[55, 60], [50, 50, 50])  # the bone to the hidden joint is not drawn


def test_draw_2d_rejects_bad_joints():
    image = np.zeros((40, 40, 3), dtype=np.uint8)
    with pytest.raises(ValueError, match="person 0: joints_2d"):
        vis.draw_2d(image, [{"joints_2d": np.zeros((3, 3))}], BONES)
    with pytest.raises(ValueError, match="skeleton uses joint 2"):
        vis.draw_2d(image, [{"joints_2d": np.zeros((2, 2))}], BONES)
    with pytest.raises(KeyError, match="joints_2d"):
        vis.draw_2d(image, [{"bbox": [0, 0, 1, 1]}], BONES)


def _people_3d():
    rng = np.random.default_rng(0)
    base = rng.normal(scale=200.0, size=(MUPOTS.joint_num, 3))
    base[:, 1] *= 4.0  # a person is taller than wide
    return [{"joints_cam_mm": base + np.array([-600.0, 0.0, 4000.0])},
            {"joints_cam_mm": base + np.array([700.0, 100.0, 6500.0])}]


def test_view_limits_equal_spans():
    pts = np.array([[0.0, 0.0, 1000.0], [400.0, 1800.0, 5000.0], [np.nan, 0.0, 0.0]])
    lim = vis.view_limits(pts, margin=0.1)
    span = lambda r: r[1] - r[0]  # noqa: E731
    assert span(lim.front_x) == pytest.approx(span(lim.front_y)) == pytest.approx(1800.0 * 1.2)
    assert span(lim.top_x) == pytest.approx(span(lim.top_z)) == pytest.approx(4000.0 * 1.2)
    assert np.mean(lim.front_x) == pytest.approx(200.0) and np.mean(lim.top_z) == pytest.approx(3000.0)
    tiny = vis.view_limits(np.zeros((1, 3)), min_span_mm=500.0)
    assert span(tiny.front_x) == pytest.approx(500.0)


def test_figure_3d_equal_scales_orientation_and_colours():
    people = _people_3d()
    fig = vis.figure_3d(people, MUPOTS, title="t")
    front, top = fig.axes
    fx, fy = front.get_xlim(), front.get_ylim()
    tx, tz = top.get_xlim(), top.get_ylim()
    assert abs(fx[1] - fx[0]) == pytest.approx(abs(fy[1] - fy[0]))
    assert abs(tx[1] - tx[0]) == pytest.approx(abs(tz[1] - tz[0]))
    assert fy[0] > fy[1]  # camera y points down: inverted axis so people stand upright
    assert tz[1] > tz[0]
    allj = np.concatenate([p["joints_cam_mm"] for p in people])
    assert min(fy) <= allj[:, 1].min() and allj[:, 1].max() <= max(fy)
    assert tz[0] <= allj[:, 2].min() and allj[:, 2].max() <= tz[1]
    assert "mm" in front.get_xlabel() and "mm" in front.get_ylabel() and "mm" in top.get_ylabel()
    # person i has colour person_colors(n)[i] in 3D, the same list draw_2d uses
    expected = [vis.bgr_to_mpl(c) for c in vis.person_colors(2)]
    for ax in (front, top):
        line_colors = {tuple(np.round(np.asarray(line.get_color(), dtype=float)[:3], 6)) for line in ax.lines}
        assert line_colors == {tuple(np.round(c, 6)) for c in expected}
    first_bone = front.lines[0]
    a, b = MUPOTS.skeleton[0]
    assert np.allclose(first_bone.get_xdata(), people[0]["joints_cam_mm"][[a, b], 0])
    assert np.allclose(np.asarray(first_bone.get_color())[:3], expected[0])


def test_draw_3d_image_and_empty_case():
    img = vis.draw_3d(_people_3d(), MUPOTS, title="two people", size_px=(400, 200))
    assert img.shape == (200, 400, 3) and img.dtype == np.uint8
    assert img.std() > 5
    empty = vis.draw_3d([], MUPOTS, size_px=(400, 200))
    assert empty.shape == (200, 400, 3)
    assert (empty < 128).any()  # the message is drawn
    fig = vis.figure_3d([], MUPOTS)
    assert fig.axes == [] and any("no people detected" in t.get_text() for t in fig.texts)


def test_side_by_side_same_height():
    a = np.zeros((100, 50, 3), dtype=np.uint8)
    b = np.full((200, 300), 255, dtype=np.uint8)
    out = vis.side_by_side(a, b)
    assert out.shape == (100, 50 + 150, 3)
    assert out[:, 50:].min() == 255
    assert vis.side_by_side(a, b, height=50).shape == (50, 25 + 75, 3)


def test_save_image_roundtrip_and_atomic_failure(tmp_path, monkeypatch):
    image = np.zeros((8, 10, 3), dtype=np.uint8)
    image[2:5, 3:7] = (0, 128, 255)
    out = vis.save_image(tmp_path / "sub" / "a.png", image)
    assert np.array_equal(cv2.imread(str(out)), image)

    target = tmp_path / "keep.png"
    target.write_bytes(b"old content")

    def failing_replace(src, dst):
        raise OSError("simulated failure")

    monkeypatch.setattr(vis.os, "replace", failing_replace)
    with pytest.raises(OSError, match="keep.png"):
        vis.save_image(target, image)
    monkeypatch.undo()
    assert target.read_bytes() == b"old content"
    assert sorted(os.listdir(tmp_path)) == ["keep.png", "sub"]  # no temp file left behind

    with pytest.raises(ValueError, match="keep.unknownext"):
        vis.save_image(tmp_path / "keep.unknownext", image)
    blocker = tmp_path / "blocker"
    blocker.write_bytes(b"x")
    with pytest.raises(OSError, match="blocker"):
        vis.save_image(blocker / "x.png", image)
    assert blocker.read_bytes() == b"x"
