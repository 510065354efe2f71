"""Measure a video's 3D page: its size, the time to build it, and (in headless Chromium) the time until it is
drawn with every frame loaded and the time one slider step takes.

    posenet3d bench viewer --frames 600 --people 8 [--trail 25] [--out /tmp/viewer_bench]
    posenet3d bench viewer --frames 20 --people 8 --trail 25

The page shows a synthetic clip (``--people`` people walking on the MuCo skeleton for ``--frames`` frames at
25 fps, every person tracked), written with ``plotly.min.js`` into ``--out`` (default: a temporary folder).
The browser part needs selenium and Chromium with chromedriver; without them only the size and build time are
printed. The load time includes parsing plotly.js (4.8 MB); the machine's load average is printed alongside.
"""
from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import numpy as np

from posenet3d.commands import command_parser
from posenet3d.skeletons import MUCO
from posenet3d.viewer import PLOTLY_JS, plotly_js_bytes, video_page


def walking_records(frames: int, people: int, fps: float = 25.0, seed: int = 0) -> list[dict]:
    """Frame records as the video demo writes them: ``people`` tracked people (ids 1..) walking across."""
    rng = np.random.default_rng(seed)
    rest = rng.normal(0, 200, (people, MUCO.joint_num, 3)) + np.array([0.0, 0.0, 0.0])
    start = np.column_stack([np.linspace(-3000, 3000, people), np.zeros(people), rng.uniform(4000, 9000, people)])
    velocity = rng.normal(0, 40, (people, 3)) * np.array([1.0, 0.0, 1.0])
    records = []
    for f in range(frames):
        pts = rest + (start + velocity * f)[:, None, :] + rng.normal(0, 10, rest.shape)
        plist = [{"bbox": [0, 0, 1, 1], "score": 0.9, "root_cam_mm": p[MUCO.root_idx].round(3).tolist(),
                  "joints_cam_mm": p.round(3).tolist(), "joints_2d_px": [[0.0, 0.0]] * MUCO.joint_num,
                  "joint_conf": rng.uniform(0.3, 1.0, MUCO.joint_num).round(4).tolist(), "pose_score": 0.6,
                  "track_id": k + 1, "joints_cam_mm_smoothed": p.round(3).tolist()} for k, p in enumerate(pts)]
        records.append({"input": "bench.mp4", "frame": f, "time_s": f / fps, "image_size": {"width": 1920,
                        "height": 1080}, "intrinsics": {"fx": 1500.0, "fy": 1500.0, "cx": 960.0, "cy": 540.0},
                        "people": plist, "joint_names": list(MUCO.joints_name),
                        "skeleton": [list(b) for b in MUCO.skeleton]})
    return records


def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    p = command_parser(prog or "posenet3d bench viewer", __doc__)
    p.add_argument("--frames", type=int, default=600, help="frames (default 600)")
    p.add_argument("--people", type=int, default=8, help="people in every frame (default 8)")
    p.add_argument("--trail", type=int, default=0, help="trail length in frames (default 0: none, as the demo)")
    p.add_argument("--out", default=None, help="folder for the page (default: a temporary folder)")
    args = p.parse_args(argv)
    if args.frames < 1 or args.people < 0 or args.trail < 0:
        p.error("--frames must be >= 1, --people and --trail >= 0")
    out = Path(args.out or tempfile.mkdtemp(prefix="viewer_bench_"))
    out.mkdir(parents=True, exist_ok=True)
    records = walking_records(args.frames, args.people)
    t0 = time.perf_counter()
    html = video_page(records, 25.0, f"bench: {args.frames} frames x {args.people} people", args.trail)
    build_s = time.perf_counter() - t0
    page = out / "bench_3d.html"
    page.write_text(html)
    (out / PLOTLY_JS).write_bytes(plotly_js_bytes())
    print(f"page {page}: {page.stat().st_size / 1e6:.2f} MB (+ {PLOTLY_JS} {len(plotly_js_bytes()) / 1e6:.2f} MB "
          f"once per folder), built in {build_s:.2f} s; load average {os.getloadavg()[0]:.2f}")
    from posenet3d.pagecheck import SLIDER_JS, chromium_missing, console_errors, open_page, start_chromium
    missing = chromium_missing()
    if missing:
        print(f"no browser figures: {missing}")
        return 0
    driver = start_chromium()
    try:
        state, load_s = open_page(driver, page, frames=min(args.frames, 600))
        t0 = time.perf_counter()
        driver.execute_async_script(SLIDER_JS, len(records) // 2)
        step_s = time.perf_counter() - t0
        errors = console_errors(driver)
    finally:
        driver.quit()
    print(f"headless Chromium: drawn with {state['frames']} frames and {state['people']} people after "
          f"{load_s:.2f} s; one slider step {step_s * 1000:.0f} ms; console errors: {len(errors)}")
    return 0
