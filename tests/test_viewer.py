"""The interactive 3D pages (posenet3d.viewer): what they hold, how the demo writes them, and — in headless
Chromium from file:// — that they load without console errors, draw the JSON's people, are not blank and move
with the slider."""
from __future__ import annotations

import json
import re
from pathlib import Path

import cv2
import numpy as np
import pytest
from test_demo import bundle, picture, run, write_video  # noqa: F401  (the tiny bundle fixture and helpers)

from posenet3d import viewer
from posenet3d.pagecheck import SLIDER_JS, STATE_JS, chromium_missing, console_errors, open_page, start_chromium
from posenet3d.skeletons import MUCO, MUPOTS
from posenet3d.vis import person_colors

pytest.importorskip("plotly", reason="the 3D pages need plotly (pip install -e '.[viewer]')")


def person_traces(figure: dict) -> list[dict]:
    return [t for t in figure["data"] if t.get("meta", {}).get("kind") == "person"]


def result_doc(people_joints: list[np.ndarray], joint_set=MUCO) -> dict:
    """A result dict as the demo writes it (JSON-ready: a non-finite value is None)."""
    def plain(a):
        return [[None if not np.isfinite(v) else float(v) for v in row] for row in np.asarray(a, dtype=float)]
    root = joint_set.root_idx
    people = [{"bbox": [0, 0, 10, 10], "score": 0.9, "root_cam_mm": plain(j[root:root + 1])[0],
               "joints_cam_mm": plain(j), "joints_2d_px": [[1.0, 1.0]] * len(j),
               "joint_conf": [0.5] * len(j), "pose_score": 0.5} for j in people_joints]
    return {"input": "x.jpg", "image_size": {"width": 640, "height": 480},
            "intrinsics": {"fx": 600.0, "fy": 600.0, "cx": 320.0, "cy": 240.0,
                           "K": [[600, 0, 320], [0, 600, 240], [0, 0, 1]], "source": "given"},
            "people": people, "joint_names": list(joint_set.joints_name),
            "skeleton": [list(b) for b in joint_set.skeleton], "notes": []}


def standing(x_mm: float, z_mm: float, joint_set=MUCO, rng=None) -> np.ndarray:
    """A rough standing person (camera frame, mm): joints on a vertical line, feet at y = 800 mm."""
    rng = rng or np.random.default_rng(0)
    j = np.zeros((joint_set.joint_num, 3))
    heights = {"Head_top": -900, "Head": -800, "Thorax": -500, "Spine": -250, "Pelvis": 0, "R_Hip": 50, "L_Hip": 50,
               "R_Knee": 400, "L_Knee": 400, "R_Ankle": 780, "L_Ankle": 780, "R_Toe": 800, "L_Toe": 800}
    for i, n in enumerate(joint_set.joints_name):
        side = -150 if n.startswith("R_") else 150 if n.startswith("L_") else 0
        j[i] = (x_mm + side, heights.get(n, -450), z_mm + (120 if "Toe" in n else 0))
    return j + rng.normal(0, 5, j.shape)


# ------------------------------------------------------------------------------------------ page content --

@pytest.mark.parametrize("joint_set", [MUCO, MUPOTS])
def test_bone_chains_cover_every_bone_once(joint_set):
    chains = viewer.bone_chains(joint_set.skeleton)
    bones = [frozenset(p) for c in chains for p in zip(c, c[1:])]
    assert sorted(map(sorted, bones)) == sorted(map(sorted, map(frozenset, joint_set.skeleton)))
    assert len(chains) <= 5  # a few paths, not one segment per bone


def test_image_figure_people_colours_hover_and_ground():
    doc = result_doc([standing(-800, 4000), standing(700, 5000), standing(0, 6000)])
    figure, n = viewer.image_figure(doc)
    traces = person_traces(figure)
    assert n == len(traces) == 3
    assert [t["line"]["color"] for t in traces] == [viewer.css_rgb(c) for c in person_colors(3)]
    hover = [h for h in traces[1]["hovertext"] if h]
    assert any("person 1 · Head_top" in h and "mm" in h and "confidence 0.50" in h for h in hover)
    kinds = [t["meta"]["kind"] for t in figure["data"]]
    assert kinds.count("camera") == 1 and kinds.count("ground") == 1
    assert figure["layout"]["scene"]["aspectmode"] == "manual"  # equal scales on fixed ranges
    ratio = figure["layout"]["scene"]["aspectratio"]
    spans = [r[1] - r[0] for r in (figure["layout"]["scene"][f"{a}axis"]["range"] for a in "xyz")]
    assert [ratio[a] for a in "xyz"] == pytest.approx([s / max(spans) for s in spans], rel=1e-3)


def test_ground_fit_recovers_a_tilted_floor_and_refuses_too_few_feet():
    rng = np.random.default_rng(1)
    xz = rng.uniform([-2000, 3000], [2000, 8000], (30, 2))
    feet = np.column_stack([xz[:, 0], 0.1 * xz[:, 0] - 0.05 * xz[:, 1] + 1500, xz[:, 1]])
    assert viewer.fit_ground(feet) == pytest.approx((0.1, -0.05, 1500.0), abs=1e-6)
    assert viewer.fit_ground(feet[:3]) is None  # too few
    assert viewer.fit_ground(np.array([[0, 800, 5000], [10, 800, 5010], [20, 800, 5020], [30, 800, 5030.0]])) is None


def test_missing_and_non_finite_joints_are_left_out_not_a_broken_page():
    a = standing(0, 5000)
    a[MUCO.index("L_Wrist")] = np.nan  # a JSON null
    b = standing(900, 5000)
    b[:] = np.inf  # nothing drawable
    doc = result_doc([a, b])
    doc["people"][0]["joints_cam_mm"][0] = [1.0, 2.0]  # not three numbers: left out too
    figure, n = viewer.image_figure(doc)
    traces = person_traces(figure)
    assert n == 2
    order = viewer.chain_order(viewer.bone_chains(MUCO.skeleton))
    at = [k for k, j in enumerate(order) if j in (MUCO.index("L_Wrist"), 0)]
    assert all(traces[0]["x"][k] is None for k in at)
    assert sum(v is not None for v in traces[0]["x"]) == sum(j is not None for j in order) - len(at)
    assert all(v is None for v in traces[1]["x"])
    page = viewer.image_page(doc)
    assert "NaN" not in page and "Infinity" not in page


def test_nobody_page_says_so():
    page = viewer.image_page(result_doc([]))
    assert "Nobody was found in this image" in page and "nobody found" in page


def video_records(n_frames: int, n_people: int, joint_set=MUCO, tentative_at: int | None = None) -> list[dict]:
    """Frame records as the video demo writes them: people walking, track ids 1..n, one tentative person (no
    id) in frame ``tentative_at``."""
    rng = np.random.default_rng(2)
    records = []
    for f in range(n_frames):
        doc = result_doc([standing(-1500 + 400 * k + 5 * f, 4000 + 300 * k, joint_set, rng) for k in range(n_people)],
                         joint_set)
        for k, p in enumerate(doc["people"]):
            p["track_id"] = k + 1
            p["joints_cam_mm_smoothed"] = p["joints_cam_mm"]
        if f == tentative_at:
            doc["people"][-1]["track_id"] = None
        records.append({"input": "clip.mp4", "frame": f, "time_s": f / 25, **doc})
    return records


def test_video_figure_tracks_keep_colours_and_frames_hold_each_frame():
    records = video_records(12, 3, tentative_at=5)
    figure, shown = viewer.video_figure(records, 25.0, trail_frames=4)
    assert shown == list(range(12)) and len(figure["frames"]) == 12
    traces = person_traces(figure)
    tracked = [t for t in traces if t["meta"]["track"] is not None]
    assert [t["meta"]["track"] for t in tracked] == [1, 2, 3]
    palette = person_colors(24)
    assert [t["line"]["color"] for t in tracked] == [viewer.css_rgb(palette[t]) for t in (1, 2, 3)]
    assert len(traces) == 4  # one grey slot for the tentative person of frame 5
    drawn = [sum(any(v is not None for v in d.get("x", [])) for d in f["data"][:len(traces)])
             for f in figure["frames"]]
    assert drawn == [len(r["people"]) for r in records]
    assert len(figure["layout"]["sliders"][0]["steps"]) == 12
    trails = [t for t in figure["data"] if t["meta"]["kind"] == "trail"]
    assert len(trails) == 3 and len(figure["frames"][-1]["data"][len(traces)]["x"]) == 5  # frames 7..11


def test_a_long_video_is_sampled_and_the_page_says_so():
    records = video_records(50, 1)
    figure, shown = viewer.video_figure(records, 25.0, max_frames=20)
    assert len(shown) == 20 and shown[0] == 0 and shown[-1] == 49
    assert [f["name"] for f in figure["frames"]] == [str(records[i]["frame"]) for i in shown]
    page = viewer.video_page(records, 25.0, "clip.mp4", max_frames=20)
    assert "the page shows 20 of its 50 frames" in page
    assert 'class="sampled"' in page
    assert 'class="sampled"' not in viewer.video_page(records[:20], 25.0, "clip.mp4", max_frames=20)


# ----------------------------------------------------------------------------------------- the demo writes --

def test_demo_writes_pages_with_plotly_once_per_folder_and_no_html_skips(bundle, tmp_path, capsys):  # noqa: F811
    for name in ("a.jpg", "b.jpg"):
        cv2.imwrite(str(tmp_path / name), picture(96, 128))
    out = tmp_path / "vis"
    assert run(bundle, out, "--input", str(tmp_path / "a.jpg"), str(tmp_path / "b.jpg")) == 0
    assert "a_3d.html" in capsys.readouterr().out
    js = out / viewer.PLOTLY_JS
    assert js.read_bytes() == viewer.plotly_js_bytes()
    for name in ("a", "b"):
        page = (out / f"{name}_3d.html").read_text()
        assert '<script charset="utf-8" src="plotly.min.js"></script>' in page
        assert f'<img src="{name}_2d.jpg"' in page
        assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)  # nothing from the network
        assert len(page) < 200_000  # plotly.js is not inside
    before = js.stat().st_mtime_ns
    assert run(bundle, out, "--input", str(tmp_path / "a.jpg")) == 0
    assert js.stat().st_mtime_ns == before  # the same plotly.js is not written again
    assert run(bundle, tmp_path / "plain", "--input", str(tmp_path / "a.jpg"), "--no-html") == 0
    assert sorted(p.name for p in (tmp_path / "plain").iterdir() if not p.name.startswith(".")) == \
        ["a.json", "a_2d.jpg", "a_3d.png"]


# ----------------------------------------------------------------------------------------------- browser --

@pytest.fixture(scope="module")
def browser():
    """Headless Chromium through the system chromedriver (Debian: apt-get install chromium chromium-driver)."""
    missing = chromium_missing()
    if missing:
        pytest.skip(missing)
    driver = start_chromium()
    yield driver
    driver.quit()


def graph_variance(driver, path: Path) -> float:
    """Pixel variance of the graph's screenshot (a blank plot has ~0)."""
    from selenium.webdriver.common.by import By
    driver.find_element(By.ID, "graph").screenshot(str(path))
    return float(cv2.imread(str(path), cv2.IMREAD_GRAYSCALE).astype(float).var())


@pytest.fixture(scope="module")
def demo_pages(bundle, tmp_path_factory):  # noqa: F811
    """One demo run: a 2-person image, an image too small for anybody, a 6-frame video with trails."""
    tmp = tmp_path_factory.mktemp("pages")
    cv2.imwrite(str(tmp / "people.jpg"), picture(96, 128))
    cv2.imwrite(str(tmp / "tiny.png"), np.full((1, 1, 3), 128, np.uint8))
    write_video(tmp / "clip.mp4", 6)
    out = tmp / "vis"
    assert run(bundle, out, "--input", str(tmp / "people.jpg"), str(tmp / "tiny.png"), str(tmp / "clip.mp4"),
               "--no-video-3d", "--trail", "3") == 0
    return out


def test_image_pages_in_chromium(browser, demo_pages, tmp_path):
    doc = json.loads((demo_pages / "people.json").read_text())
    state, _ = open_page(browser, demo_pages / "people_3d.html")
    assert state["people"] == len(doc["people"]) == 2
    assert console_errors(browser) == []
    assert graph_variance(browser, tmp_path / "people.png") > 20.0
    state, _ = open_page(browser, demo_pages / "tiny_3d.html")
    assert state["people"] == 0 and "Nobody was found" in browser.page_source
    assert console_errors(browser) == []
    # a person with missing and non-finite joints, and one with none at all: drawn without them
    doc["people"][0]["joints_cam_mm"][3] = None
    doc["people"][0]["joints_cam_mm"][4] = [None, 1.0, 2.0]
    doc["people"][1]["joints_cam_mm"] = [[None, None, None]] * len(doc["joint_names"])
    (demo_pages / "holes_3d.html").write_text(viewer.image_page(doc, "people_2d.jpg"))
    state, _ = open_page(browser, demo_pages / "holes_3d.html")
    assert state["people"] == 1 and console_errors(browser) == []


def test_video_page_in_chromium_draws_each_frame_and_the_slider_moves(browser, demo_pages, tmp_path):
    records = [json.loads(line) for line in (demo_pages / "clip.jsonl").read_text().splitlines()]
    state, _ = open_page(browser, demo_pages / "clip_3d.html", frames=len(records))
    assert state["frames"] == len(records)
    assert state["people"] == len(records[0]["people"])
    assert console_errors(browser) == []
    assert graph_variance(browser, tmp_path / "clip.png") > 20.0
    data_of = "return JSON.stringify(document.getElementById('graph').data.map(function (t) { return t.x; }))"
    before = browser.execute_script(data_of)
    label = browser.execute_async_script(SLIDER_JS, -1)  # the slider's last step
    assert label == str(records[-1]["frame"])
    assert browser.execute_script(data_of) != before
    assert browser.execute_script(STATE_JS)["people"] == len(records[-1]["people"])
    assert console_errors(browser) == []


def test_demo_without_plotly_says_so_once_and_writes_the_rest(bundle, tmp_path, monkeypatch, capsys):  # noqa: F811
    from posenet3d.commands import demo
    monkeypatch.setattr(demo, "have_plotly", lambda: False)
    cv2.imwrite(str(tmp_path / "a.jpg"), picture())
    assert run(bundle, tmp_path / "vis", "--input", str(tmp_path / "a.jpg")) == 0
    assert capsys.readouterr().err.count("plotly is not installed") == 1
    assert not (tmp_path / "vis" / "a_3d.html").exists() and (tmp_path / "vis" / "a.json").is_file()
    assert run(bundle, tmp_path / "vis", "--input", str(tmp_path / "a.jpg"), "--trail", "-1") == 2
