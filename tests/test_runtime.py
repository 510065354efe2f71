"""ONNX export and the ONNX Runtime / OpenVINO runners: per network and end to end the outputs equal torch fp32
(1e-3 heatmap units, 0.5 mm), the metadata, clear errors, bf16 fallback, int8 quantisation, ``posenet3d export``."""
from __future__ import annotations

import sys

import numpy as np
import pytest
import torch
from test_estimator import DET_CFG, DET_INPUT, POSE_CFG, ROOT_CFG, lively, sample_image
from torch import nn

from posenet3d import runtime
from posenet3d.cli import main as cli_main
from posenet3d.config import ModelConfig
from posenet3d.detection.model import CenterNet, ctdet_heads
from posenet3d.estimator import Estimator, EstimatorError, build_network, save_bundle
from posenet3d.export import ONNX_FILES, export_onnx, read_metadata
from posenet3d.preprocess import normalize_patch
from posenet3d.runtime import OnnxNetwork, make_runner

BACKENDS = ("onnxruntime", "openvino")
HM_TOL, MM_TOL = 1e-3, 0.5


@pytest.fixture(scope="module")
def nets():
    torch.manual_seed(0)
    det = build_network(DET_CFG).eval()
    dcn = CenterNet("resdcn_18", ctdet_heads(1), head_conv=8, width=0.125).eval()
    for m in dcn.modules():  # non-zero offsets, so the deformable sampling is exercised
        if hasattr(m, "conv_offset_mask"):
            nn.init.normal_(m.conv_offset_mask.weight, std=0.05)
    return {"detector": det, "dcn": dcn, "rootnet": lively(build_network(ROOT_CFG)),
            "posenet": lively(build_network(POSE_CFG))}


def crops(n: int = 3, size: int = 64, seed: int = 0) -> torch.Tensor:
    rng = np.random.default_rng(seed)
    return normalize_patch(rng.uniform(0, 255, (n, size, size, 3)).astype(np.float32))


@pytest.mark.parametrize("backend", BACKENDS)
def test_posenet_and_rootnet_equal_torch(nets, backend):
    x, k = crops(3), torch.tensor([[2500.0], [4000.0], [7000.0]])
    pose, _ = make_runner("posenet", nets["posenet"], backend, input_size=64, joint_set="MuCo")
    root, _ = make_runner("rootnet", nets["rootnet"], backend, input_size=64)
    assert isinstance(pose, OnnxNetwork) and pose.joint_num == 21 and pose.depth_dim == 8
    with torch.inference_mode():
        c_ref, conf_ref = nets["posenet"](x, return_confidence=True)
        r_ref = nets["rootnet"](x, k)
    c, conf = pose(x, return_confidence=True)
    assert c.shape == (3, 21, 3) and float(c_ref.std()) > 0.5  # outputs that depend on the input
    assert float((c - c_ref).abs().max()) <= HM_TOL
    assert float((conf - conf_ref).abs().max()) <= 1e-3
    assert torch.equal(pose(x), c)  # the plain call returns the coordinates only, as the torch module does
    r = root(x, k)
    assert float((r[:, :2] - r_ref[:, :2]).abs().max()) <= HM_TOL
    assert float((r[:, 2] - r_ref[:, 2]).abs().max()) <= MM_TOL
    # a dynamic batch: one crop
    assert float((pose(x[:1]) - c_ref[:1]).abs().max()) <= HM_TOL


@pytest.mark.parametrize("backend", BACKENDS)
def test_streams_run_one_network_from_several_threads_at_once(nets, backend):
    """streams=2: two threads call the runner at the same time (OpenVINO: a request per thread) and each gets its
    own input's outputs."""
    from concurrent.futures import ThreadPoolExecutor
    pytest.importorskip(backend)
    pose, _ = make_runner("posenet", nets["posenet"], backend, input_size=64, joint_set="MuCo", threads=2,
                          streams=2)
    inputs = [crops(2, seed=s) for s in range(6)]
    with torch.inference_mode():
        want = [nets["posenet"](x) for x in inputs]
    with ThreadPoolExecutor(2) as pool:
        got = list(pool.map(pose, inputs))
    for g, w in zip(got, want):
        assert float((g - w).abs().max()) <= HM_TOL


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("which", ["detector", "dcn"])
def test_detector_maps_equal_torch(nets, backend, which):
    net = nets[which]
    runner, _ = make_runner("detector", net, backend, input_size=64)
    x = torch.randn(2, 3, 96, 64)  # another size and batch than the export's example
    with torch.inference_mode():
        ref = net(x)
    out = runner(x)
    assert list(out) == list(ref)
    for name in ref:
        assert out[name].shape == ref[name].shape
        assert float((out[name] - ref[name]).abs().max()) <= HM_TOL, name
    assert not net.training  # the export leaves the network in eval mode


def test_deform_conv_is_the_onnx_operator(nets):
    import onnx
    model = onnx.load_from_string(export_onnx("detector", nets["dcn"], 64))
    ops = {n.op_type for n in model.graph.node}
    assert "DeformConv" in ops and model.opset_import[0].version >= 19


def test_metadata_records_the_input_convention(nets):
    meta = read_metadata(export_onnx("posenet", nets["posenet"], 64, joint_set="MuCo", source_sha256="ab" * 32))
    assert meta["posenet3d.network"] == "posenet" and meta["input_color"] == "RGB"
    assert meta["input_scale"] == "0..255" and meta["joint_num"] == "21" and meta["depth_dim"] == "8"
    assert meta["input_size"] == "64" and meta["joint_set"] == "MuCo" and meta["precision"] == "fp32"
    assert "heatmap units" in meta["outputs"] and meta["source_sha256"] == "ab" * 32
    det = read_metadata(export_onnx("detector", nets["detector"], 64))
    assert det["input_color"] == "BGR" and det["input_scale"] == "0..1" and det["arch"] == "res_18"


def test_estimator_results_equal_across_backends(nets):
    img = sample_image(128)
    boxes = [[10, 5, 40, 100], [60, 20, 50, 90], [30, 30, 60, 60]]
    results = {}
    for backend in ("torch", *BACKENDS):
        est = Estimator(nets["detector"], nets["rootnet"], nets["posenet"], pose_cfg=POSE_CFG, root_cfg=ROOT_CFG,
                        det_input_size=DET_INPUT, backend=backend)
        assert est.backend == backend and all(i.used == "fp32" for i in est.runtime.values())
        results[backend] = est.estimate_from_boxes(img, boxes), est.detect(img)
    ref, (ref_boxes, ref_scores) = results["torch"]
    for backend in BACKENDS:
        res, (b, s) = results[backend]
        assert len(res) == len(ref) == 3
        for p, q in zip(res, ref):
            np.testing.assert_allclose(p.root_cam_mm, q.root_cam_mm, atol=MM_TOL)
            np.testing.assert_allclose(p.joints_2d_px, q.joints_2d_px, atol=0.05)  # 1e-3 hm units ≈ 0.003 px
            np.testing.assert_allclose(p.joints_cam_mm, q.joints_cam_mm, atol=MM_TOL)
        np.testing.assert_allclose(s, ref_scores, atol=1e-4)
        np.testing.assert_allclose(b, ref_boxes, atol=1e-2)


def test_missing_runtime_names_the_pip_command(nets, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    with pytest.raises(EstimatorError, match=r"onnxruntime package is not installed: pip install .*\[onnx\]"):
        make_runner("posenet", nets["posenet"], "onnxruntime", input_size=64)
    monkeypatch.setitem(sys.modules, "openvino", None)
    with pytest.raises(EstimatorError, match=r"pip install .*\[openvino\]"):
        make_runner("posenet", nets["posenet"], "openvino", input_size=64)


def test_wrong_network_or_joint_count_is_refused(nets, tmp_path):
    pose_file = tmp_path / "p.onnx"
    export_onnx("posenet", nets["posenet"], 64, pose_file)
    with pytest.raises(EstimatorError, match=r"p\.onnx: holds the posenet network, expected the rootnet"):
        make_runner("rootnet", nets["rootnet"], "onnxruntime", onnx=pose_file, input_size=64)
    other = build_network(ModelConfig(task="posenet", backbone_depth=18, backbone_width=0.25, pretrained="none",
                                      input_size=64, depth_dim=8, head_channels=16, joint_set="Human36M"))
    with pytest.raises(EstimatorError, match=r"p\.onnx: joint_num is 21, but the posenet needs 18"):
        make_runner("posenet", other, "onnxruntime", onnx=pose_file, input_size=64)
    with pytest.raises(EstimatorError, match=r"p\.onnx: input_size is 64, but the posenet needs 128"):
        make_runner("posenet", nets["posenet"], "onnxruntime", onnx=pose_file, input_size=128)
    stale = tmp_path / "s.onnx"
    export_onnx("posenet", nets["posenet"], 64, stale, source_sha256="0" * 64)
    with pytest.raises(EstimatorError, match=r"s\.onnx: exported from other posenet weights"):
        make_runner("posenet", nets["posenet"], "onnxruntime", onnx=stale, input_size=64, source_sha256="1" * 64)
    with pytest.raises(EstimatorError, match="backend must be one of"):
        make_runner("posenet", nets["posenet"], "tensorrt", input_size=64)
    with pytest.raises(EstimatorError, match="bf16 is not offered by ONNX Runtime"):
        make_runner("posenet", nets["posenet"], "onnxruntime", "bf16", input_size=64)


def test_bf16_only_with_native_support(nets, monkeypatch):
    x = crops(2)
    monkeypatch.setattr(runtime, "native_bf16", lambda backend="torch": False)
    net, info = make_runner("posenet", nets["posenet"], "torch", "bf16", input_size=64)
    assert net is nets["posenet"] and info.used == "fp32" and "no native bf16" in info.note
    monkeypatch.setattr(runtime, "native_bf16", lambda backend="torch": True)
    net, info = make_runner("posenet", nets["posenet"], "torch", "bf16", input_size=64)
    assert isinstance(net, runtime.AutocastNetwork) and info.used == "bf16" and not info.note
    with torch.inference_mode():
        c, ref = net(x), nets["posenet"](x)
    assert c.dtype == torch.float32 and float((c - ref).abs().max()) < 0.5  # bf16: ~3 significant digits


def test_cpu_flags_parse(tmp_path):
    f = tmp_path / "cpuinfo"
    f.write_text("processor\t: 0\nflags\t\t: fpu sse avx2 avx512_bf16\n\nprocessor\t: 1\n")
    assert {"avx2", "avx512_bf16"} <= runtime.cpu_flags(str(f))
    assert runtime.cpu_flags(str(tmp_path / "none")) == set()


def test_int8_quantisation_runs_close_to_fp32(nets):
    from posenet3d.quantize import quantize_int8
    fp32 = export_onnx("posenet", nets["posenet"], 64, joint_set="MuCo")
    feeds = [[crops(4, seed=s).numpy()] for s in range(1, 5)]
    q = quantize_int8(fp32, feeds, "posenet")
    meta = read_metadata(q)
    assert meta["precision"] == "int8" and "4 batches" in meta["calibration"] and len(q) < len(fp32) / 2
    with pytest.raises(EstimatorError, match="a int8 export, but precision fp32 needs fp32"):
        make_runner("posenet", nets["posenet"], "onnxruntime", onnx=q, input_size=64)
    k = torch.tensor([[2500.0], [4000.0], [7000.0], [5000.0]])
    q_root = quantize_int8(export_onnx("rootnet", nets["rootnet"], 64), [[f[0], k.numpy()] for f in feeds])
    x = crops(3)
    with torch.inference_mode():
        ref, ref_root = nets["posenet"](x), nets["rootnet"](x, k[:3])
    for backend in BACKENDS:
        net, _ = make_runner("posenet", nets["posenet"], backend, "int8", onnx=q, input_size=64)
        err = float((net(x) - ref).abs().max())
        assert 0 < err < 1.5, backend  # quantised: not identical, but within ~1 heatmap cell of 16
        root, _ = make_runner("rootnet", nets["rootnet"], backend, "int8", onnx=q_root, input_size=64)
        r = root(x, k[:3])
        assert float((r[:, :2] - ref_root[:, :2]).abs().max()) < 1.5, backend
        assert float((r[:, 2] / ref_root[:, 2] - 1).abs().max()) < 0.05, backend  # depth within 5 %


def test_export_command_into_bundle(nets, tmp_path, capsys):
    folder = tmp_path / "model"
    save_bundle(folder, {"detector": DET_CFG, "rootnet": ROOT_CFG, "posenet": POSE_CFG},
                {"detector": nets["detector"], "rootnet": nets["rootnet"], "posenet": nets["posenet"]},
                dtype=None, options={"det_input_size": DET_INPUT})
    assert cli_main(["export", str(folder), "--into-bundle"]) == 0
    assert "max |ONNX Runtime − torch|" in capsys.readouterr().out
    for name in ONNX_FILES.values():
        assert (folder / name).is_file()
    est = Estimator.from_bundle(folder, backend="onnxruntime")
    assert est.posenet.meta["source_sha256"] == est.identity["files"]["posenet"]["sha256"]
    ref = Estimator.from_bundle(folder)
    img = sample_image(128)
    a, b = est.estimate_from_boxes(img, [[20, 10, 50, 100]]), ref.estimate_from_boxes(img, [[20, 10, 50, 100]])
    np.testing.assert_allclose(a.people[0].joints_cam_mm, b.people[0].joints_cam_mm, atol=MM_TOL)
    # int8 from a bundle without int8 files: a clear error
    with pytest.raises(EstimatorError, match="int8 needs the detector's int8 ONNX file"):
        Estimator.from_bundle(folder, backend="onnxruntime", precision="int8")
    with pytest.raises(SystemExit) as exit_info:  # neither --out nor --into-bundle
        cli_main(["export", str(folder)])
    assert exit_info.value.code == 2
    assert "--out DIR or --into-bundle" in capsys.readouterr().err


_SIGNAL_AFTER_TWO_RUNNERS = """
import gc, signal, subprocess, sys
from posenet3d.config import ModelConfig
from posenet3d.estimator import build_network
from posenet3d.runtime import make_runner
net = build_network(ModelConfig(task="posenet", backbone_depth=18, backbone_width=0.125, pretrained="none",
                                input_size=64, depth_dim=8, head_channels=16, joint_set="MuCo")).eval()
a, _ = make_runner("posenet", net, "openvino", onnx=sys.argv[1], input_size=64, joint_set="MuCo")
b, _ = make_runner("posenet", net, "openvino", onnx=sys.argv[1], input_size=64, joint_set="MuCo")
del a; gc.collect(); del b; gc.collect()  # not in the reverse order of their making
signal.signal(signal.SIGCHLD, lambda *_: None)  # a Python handler runs on the thread's alternate signal stack
for _ in range(3):
    subprocess.run(["true"], check=True)
print("alive")
"""


def test_openvino_runners_freed_in_any_order_leave_signals_working(tmp_path):
    """Two OpenVINO runners freed in their making order, then a handled SIGCHLD: with one OpenVINO Core per
    runner this died with a segmentation fault (the CPU plugin's alternate signal stack left dangling)."""
    import subprocess
    pytest.importorskip("openvino")
    net = build_network(ModelConfig(task="posenet", backbone_depth=18, backbone_width=0.125, pretrained="none",
                                    input_size=64, depth_dim=8, head_channels=16, joint_set="MuCo")).eval()
    export_onnx("posenet", net, 64, tmp_path / "p.onnx", joint_set="MuCo")
    res = subprocess.run([sys.executable, "-c", _SIGNAL_AFTER_TWO_RUNNERS, str(tmp_path / "p.onnx")],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0 and res.stdout.strip() == "alive", (res.returncode, res.stderr[-2000:])
