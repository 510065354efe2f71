"""Throughput mode: ``Estimator.estimate_many`` equals ``estimate``, groups and shards, the merged JSON lines of a
2-process gloo run equal a single process's, and the demo's ``--throughput``."""
from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
import torch
from test_estimator import DET_CFG, DET_INPUT, POSE_CFG, ROOT_CFG, lively, make_estimator, sample_image

from posenet3d.collection import collect_lines, shard_groups
from posenet3d.distributed import launch
from posenet3d.estimator import Estimator, EstimatorError, build_network, save_bundle

OPTIONS = {"det_input_size": DET_INPUT, "det_score_thresh": 0.01, "max_people": 3}


@pytest.fixture(scope="module")
def nets():
    torch.manual_seed(0)
    return lively(build_network(ROOT_CFG)), lively(build_network(POSE_CFG))


@pytest.fixture(scope="module")
def bundle(tmp_path_factory, nets):
    torch.manual_seed(3)
    det = build_network(DET_CFG)
    with torch.no_grad():
        det.wh[-1].bias.fill_(6.0)  # boxes of 6×6 output px (24 input px), so random peaks give people
    folder = tmp_path_factory.mktemp("bundle") / "model"
    save_bundle(folder, {"detector": DET_CFG, "rootnet": ROOT_CFG, "posenet": POSE_CFG},
                {"detector": det, "rootnet": nets[0], "posenet": nets[1]}, dtype=None,
                options=OPTIONS)
    return folder


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    folder = tmp_path_factory.mktemp("images")
    paths = []
    for i in range(7):
        rng = np.random.default_rng(i)
        img = cv2.GaussianBlur(rng.integers(0, 255, (96 + 8 * i, 128, 3), dtype=np.uint8), (5, 5), 0)
        paths.append(folder / f"im{i}.png")
        cv2.imwrite(str(paths[-1]), img)
    paths[4].write_bytes(b"not an image")  # one unreadable image among them
    return paths


def test_shard_groups_partition_the_images():
    assert shard_groups(7, 2) == [[0, 1], [2, 3], [4, 5], [6]]
    assert shard_groups(7, 2, 1, 2) == [[2, 3], [6]]
    assert shard_groups(5, 1, 0, 2) == [[0], [2], [4]]  # one image per group: rank::world
    ranks = [i for r in range(3) for g in shard_groups(10, 2, r, 3) for i in g]
    assert sorted(ranks) == list(range(10))


def test_estimate_many_equals_estimate(nets):
    est = make_estimator(nets)
    imgs = [sample_image(128), sample_image(96), np.zeros((4, 4, 3), np.uint8), sample_image(128)[:, :100]]
    cams = [{}, {"focal": 1000.0}, {}, {"intrinsics": (900.0, 910.0, 50.0, 64.0)}]
    many = list(est.estimate_many(imgs, cams, batch_images=3))
    assert len(many) == 4
    assert many[2].people == [] and "too small" in many[2].notes[0]
    for img, cam, res in zip(imgs, cams, many):
        one = est.estimate(img, **cam)
        assert len(one) == len(res)
        np.testing.assert_allclose(res.intrinsics.matrix, one.intrinsics.matrix)
        for p, q in zip(res, one):
            np.testing.assert_allclose(p.joints_cam_mm, q.joints_cam_mm, atol=1e-2)
            np.testing.assert_allclose(p.root_cam_mm, q.root_cam_mm, atol=1e-2)
            np.testing.assert_allclose(p.bbox, q.bbox, atol=1e-4)
    assert many[0].timings_ms["posenet"] > 0


def _sharded(ctx, folder, paths, out):
    torch.set_num_threads(1)
    lines = collect_lines(Estimator.from_bundle(folder), paths, batch_images=2, ctx=ctx)
    assert (lines is None) == (ctx.rank != 0)
    if lines is not None:
        out.write_text("".join(line + "\n" for line in lines))


def test_two_gloo_processes_merge_to_the_single_process_lines(bundle, images, tmp_path):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the same intra-op threads as each worker: bit-identical network outputs
    try:
        single = collect_lines(Estimator.from_bundle(bundle), images, batch_images=2)
    finally:
        torch.set_num_threads(threads)
    assert len(single) == 7
    bad = json.loads(single[4])
    assert set(bad) == {"input", "error"} and "im4.png" in bad["input"]
    good = [json.loads(line) for i, line in enumerate(single) if i != 4]
    assert all("timings_ms" not in d and d["input"].endswith(f"im{i}.png")
               for i, d in zip([0, 1, 2, 3, 5, 6], good))
    assert sum(len(d["people"]) for d in good) > 0
    out = tmp_path / "merged.jsonl"
    launch(_sharded, [], (bundle, images, out), cpu_processes=2)
    assert out.read_text() == "".join(line + "\n" for line in single)



def test_streams_run_groups_at_once_with_the_same_lines(bundle, images, monkeypatch):
    import threading
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        single = collect_lines(Estimator.from_bundle(bundle), images, batch_images=1)
    finally:
        torch.set_num_threads(threads)
    torch.set_num_threads(2)
    try:
        est = Estimator.from_bundle(bundle, streams=2)
        assert est.streams == 2 and est.threads == 2
        seen, inside, lock = set(), [0, 0], threading.Lock()
        many = est.estimate_many

        def spy(*args, **kwargs):  # which threads run groups, on how many torch threads, how many at once
            with lock:
                seen.add((threading.get_ident(), torch.get_num_threads()))
                inside[0] += 1
                inside[1] = max(inside[1], inside[0])
            try:
                return list(many(*args, **kwargs))
            finally:
                with lock:
                    inside[0] -= 1
        monkeypatch.setattr(est, "estimate_many", spy)
        lines = collect_lines(est, images, batch_images=1)
        assert torch.get_num_threads() == 2  # the caller's threads are back
    finally:
        torch.set_num_threads(threads)
    assert {n for _, n in seen} == {1} and len({t for t, _ in seen}) == 2 and threading.get_ident() not in seen
    assert inside[1] == 2  # two groups were running at the same time
    assert lines == single  # each group as one process on one thread would run it: the same lines, bit for bit
    with pytest.raises(EstimatorError, match="streams"):
        Estimator.from_bundle(bundle, streams=0)


def test_estimate_many_with_streams_keeps_the_order_and_the_results(bundle, images):
    imgs = [cv2.imread(str(p)) for i, p in enumerate(images) if i != 4]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        one = list(Estimator.from_bundle(bundle).estimate_many(imgs, batch_images=1))
    finally:
        torch.set_num_threads(threads)
    torch.set_num_threads(2)
    try:
        many = list(Estimator.from_bundle(bundle, streams=2).estimate_many(imgs, batch_images=1))
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(threads)
    assert [len(r) for r in many] == [len(r) for r in one] and sum(len(r) for r in one) > 0
    for a, b in zip(many, one):
        for p, q in zip(a, b):
            assert np.array_equal(p.joints_cam_mm, q.joints_cam_mm) and np.array_equal(p.bbox, q.bbox)

def test_demo_throughput_writes_one_jsonl(bundle, images, tmp_path, capsys):
    from posenet3d.commands.demo import main
    folder = images[0].parent
    code = main(["--input", str(folder), "--model-dir", str(bundle), "--throughput", "--batch-images", "3",
                 "--output", str(tmp_path / "out")])
    assert code == 1  # the unreadable image is reported, the others are written
    lines = (tmp_path / "out" / "results.jsonl").read_text().splitlines()
    assert len(lines) == 7 and "error" in json.loads(lines[4])
    assert "6 of 7 images" in capsys.readouterr().out
