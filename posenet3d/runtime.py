"""Network runners below the estimator: torch, ONNX Runtime or OpenVINO behind the torch module's call signature.

:func:`make_runner` turns one of the estimator's torch networks into what runs it: the module itself (``torch``,
fp32), the module under bf16 autocast (``torch``, ``bf16``), or an :class:`OnnxNetwork` — an ``nn.Module``
without parameters whose ``forward`` takes and returns the same tensors as the torch network's (the detector a
dict of head maps, RootNet ``(B, 3)``, PoseNet ``(B, J, 3)`` or with ``return_confidence`` also ``(B, J)``) and
runs an ONNX graph (:mod:`posenet3d.export`) on ONNX Runtime or OpenVINO. The estimator therefore has one code
path for every backend.

Precisions: ``fp32`` everywhere; ``bf16`` with torch (autocast) or OpenVINO (``INFERENCE_PRECISION_HINT``) only
on a CPU with native bf16 (:func:`native_bf16`: the ``avx512_bf16`` or ``amx_bf16`` flag, or OpenVINO's
``OPTIMIZATION_CAPABILITIES`` holding ``BF16``) — elsewhere the runner **falls back to fp32 with a note** (a
logged warning and :attr:`Runner.note`), because emulated bf16 is slower than fp32 and no more accurate;
``int8`` with ONNX Runtime or OpenVINO from a statically quantised ONNX file (``posenet3d export --int8``).
ONNX Runtime's CPU provider has no bf16 kernels for these networks: ``bf16`` there is refused.

**Streams** (``streams`` > 1, throughput mode): several callers run one network at once, each on its share of the
threads — ONNX Runtime sessions get ``threads // streams`` intra-op threads each call runs on; OpenVINO compiles
``streams`` CPU streams over ``threads`` threads and gives every calling thread an infer request of its own; torch
needs nothing here (each worker sets its own intra-op threads:
:meth:`~posenet3d.estimator.Estimator.init_stream_thread`).

OpenVINO 2026.4's ONNX reader has no conversion for ``DeformConv``: a ``resdcn_*`` detector is converted from
the torch module with OpenVINO's PyTorch frontend instead (tens of seconds once per load).

Missing packages raise :class:`~posenet3d.camera.EstimatorError` naming the pip command.
"""
from __future__ import annotations

import functools
import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from .camera import EstimatorError
from .export import check_metadata, export_onnx, read_metadata

log = logging.getLogger(__name__)

BACKENDS = ("torch", "onnxruntime", "openvino")
PRECISIONS = ("fp32", "bf16", "int8")
_PIP = {"onnxruntime": 'pip install "posenet3d[onnx]"  (onnx, onnxruntime)',
        "openvino": 'pip install "posenet3d[openvino]"  (openvino)', "onnx": 'pip install "posenet3d[onnx]"'}


def require(module: str):
    """Import an optional runtime package or raise :class:`EstimatorError` naming the pip command."""
    import importlib
    try:
        return importlib.import_module(module)
    except ImportError:
        raise EstimatorError(f"the {module} package is not installed: {_PIP.get(module, 'pip install ' + module)}"
                             ) from None


def cpu_flags(path: str = "/proc/cpuinfo") -> set[str]:
    """The CPU feature flags of the first processor in ``/proc/cpuinfo`` (empty where there is none)."""
    try:
        with open(path) as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def native_bf16(backend: str = "torch") -> bool:
    """Whether this CPU computes bf16 natively: ``avx512_bf16`` or ``amx_bf16`` in its flags; for OpenVINO also
    ``BF16`` in the CPU plugin's ``OPTIMIZATION_CAPABILITIES``."""
    if {"avx512_bf16", "amx_bf16"} & cpu_flags():
        return True
    if backend == "openvino":
        try:
            return "BF16" in openvino_core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")
        except Exception:  # noqa: BLE001 - no OpenVINO: no capability to report
            return False
    return False


@dataclass
class RunnerInfo:
    """What runs a network: ``backend``, the ``precision`` asked for and the one ``used``, and a ``note`` when
    they differ (empty otherwise)."""

    backend: str
    precision: str
    used: str
    note: str = ""


class AutocastNetwork(nn.Module):
    """A torch network run under CPU bf16 autocast; float outputs are returned as float32."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net
        for name in ("joint_num", "depth_dim", "heads", "arch"):
            if hasattr(net, name):
                setattr(self, name, getattr(net, name))

    def forward(self, *args, **kwargs):
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = self.net(*args, **kwargs)
        return _to_float(out)


def _to_float(out):
    if isinstance(out, torch.Tensor):
        return out.float()
    if isinstance(out, dict):
        return {k: _to_float(v) for k, v in out.items()}
    if isinstance(out, (tuple, list)):
        return type(out)(_to_float(v) for v in out)
    return out


class OnnxNetwork(nn.Module):
    """An ONNX graph of one network (``part``) run by ONNX Runtime or OpenVINO with the torch network's call
    signature: ``forward(image)`` (detector: ``{head: map}``; PoseNet: coords, or with ``return_confidence``
    ``(coords, confidence)``) or ``forward(image, k_value)`` (RootNet). Inputs may be any float CPU tensors;
    outputs are float32 CPU tensors."""

    def __init__(self, part: str, run, meta: dict[str, str], heads: list[str] | None = None) -> None:
        super().__init__()
        self.part, self._run, self.meta = part, run, meta
        self.heads = heads
        if part == "posenet":
            self.joint_num, self.depth_dim = int(meta["joint_num"]), int(meta["depth_dim"])

    def forward(self, image: torch.Tensor, k_value: torch.Tensor | None = None, return_confidence: bool = False):
        feeds = [image.detach().float().cpu().contiguous().numpy()]
        if self.part == "rootnet":
            if k_value is None or k_value.numel() != image.shape[0]:
                raise ValueError(f"RootNet needs one k value per image: {image.shape[0]} images")
            feeds.append(k_value.detach().float().cpu().reshape(-1, 1).contiguous().numpy())
        outs = [torch.from_numpy(o) for o in self._run(feeds)]
        if self.part == "detector":
            return dict(zip(self.heads, outs))
        if self.part == "rootnet":
            return outs[0]
        return (outs[0], outs[1]) if return_confidence else outs[0]


def _ort_session(onnx: bytes | Path, threads: int):
    ort = require("onnxruntime")
    so = ort.SessionOptions()
    so.intra_op_num_threads, so.inter_op_num_threads = threads, 1
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    sess = ort.InferenceSession(onnx if isinstance(onnx, bytes) else str(onnx), so,
                                providers=["CPUExecutionProvider"])
    names = [i.name for i in sess.get_inputs()]
    return lambda feeds: sess.run(None, dict(zip(names, feeds)))


@functools.cache
def openvino_core():
    """The process's one OpenVINO ``Core``, made on first use and kept to the end.

    One, not one per network: each Core's CPU plugin installs an alternate signal stack (``sigaltstack``, mmap'd) on
    the thread that first uses it and puts back the one it found when it is destroyed. Cores destroyed in any order
    but the reverse of their creation leave the thread's alternate stack pointing at unmapped memory, and the next
    signal handled there (Python installs its handlers with ``SA_ONSTACK``: ``SIGCHLD`` from torch's DataLoader,
    ``SIGINT``...) kills the process with a segmentation fault. Raises :class:`EstimatorError` without OpenVINO."""
    return require("openvino").Core()


def _ov_compiled(onnx: bytes | Path, threads: int, hint: str, net: nn.Module | None, part: str, source: str,
                 streams: int = 1):
    ov = require("openvino")
    core = openvino_core()
    try:
        model = core.read_model(model=onnx, weights=b"") if isinstance(onnx, bytes) else core.read_model(str(onnx))
    except RuntimeError as exc:
        if "DeformConv" not in str(exc):
            raise EstimatorError(f"{source}: OpenVINO cannot read it ({str(exc).strip().splitlines()[-1]})") from None
        if net is None:
            raise EstimatorError(f"{source}: OpenVINO {ov.__version__} has no ONNX DeformConv conversion; run this "
                                 "detector with backend onnxruntime, or from its torch weights") from None
        from .export import _DetectorGraph
        log.info("%s: OpenVINO reads no ONNX DeformConv; converting the torch detector instead", source)
        graph = _DetectorGraph(net).eval()
        model = ov.convert_model(graph, example_input=(torch.zeros(1, 3, 128, 128),),
                                 input=[ov.PartialShape([-1, 3, -1, -1])])
        net.eval()
    config = {"INFERENCE_PRECISION_HINT": hint, "INFERENCE_NUM_THREADS": threads,
              "PERFORMANCE_HINT": "LATENCY" if streams == 1 else "THROUGHPUT", "NUM_STREAMS": streams}
    compiled = core.compile_model(model, "CPU", config)
    local = threading.local()

    def run(feeds):
        request = getattr(local, "request", None)
        if request is None:  # one request per calling thread, freed with the thread (or the runner)
            request = local.request = compiled.create_infer_request()
        # inputs copied, not shared: a request that kept pointers to the caller's (since freed) arrays is a
        # use-after-free when it is destroyed later
        res = request.infer(feeds, share_inputs=False)
        return [res[o] for o in compiled.outputs]
    return run


def make_runner(part: str, net: nn.Module, backend: str = "torch", precision: str = "fp32", *,
                onnx: str | os.PathLike | bytes | None = None, input_size: int = 256,
                joint_set: str | None = None, source_sha256: str | None = None,
                threads: int | None = None, streams: int = 1) -> tuple[nn.Module, RunnerInfo]:
    """What runs the torch network ``net`` (``part``: detector / rootnet / posenet) on ``backend`` at
    ``precision`` (module docstring), and how.

    ``onnx``: the network's ONNX file (or bytes); without it the network is exported now (fp32; ``int8`` needs a
    file). The file's metadata must be this network (:func:`~posenet3d.export.check_metadata`: kind, input size,
    joints, depth bins, detector heads; with ``source_sha256`` also the torch weights it came from).
    ``threads``: intra-op threads (default torch's); ``streams``: callers that may run the network at once, the
    threads shared among them (module docstring). Raises :class:`EstimatorError` naming the file and problem.
    """
    if backend not in BACKENDS:
        raise EstimatorError(f"backend must be one of {list(BACKENDS)}, got {backend!r}")
    if precision not in PRECISIONS:
        raise EstimatorError(f"precision must be one of {list(PRECISIONS)}, got {precision!r}")
    used, note = precision, ""
    if precision == "bf16" and backend != "onnxruntime" and not native_bf16(backend):
        used = "fp32"
        note = (f"{part}: bf16 asked for, but this CPU has no native bf16 (no avx512_bf16/amx_bf16 flag"
                f"{'' if backend == 'torch' else ', no BF16 in OpenVINO CPU capabilities'}): running fp32")
        log.warning(note)
    if backend == "torch":
        if precision == "int8":
            raise EstimatorError("precision int8 runs on backend onnxruntime or openvino (an int8 ONNX export: "
                                 "posenet3d export BUNDLE --into-bundle --int8)")
        return (AutocastNetwork(net) if used == "bf16" else net), RunnerInfo(backend, precision, used, note)
    if backend == "onnxruntime" and precision == "bf16":
        raise EstimatorError("precision bf16 is not offered by ONNX Runtime's CPU provider: use backend openvino "
                             "or torch")
    require("onnx")
    if precision == "int8" and onnx is None:
        raise EstimatorError(f"precision int8 needs the {part}'s int8 ONNX file (posenet3d export BUNDLE "
                             f"--into-bundle --int8)")
    source = "<export in memory>" if onnx is None or isinstance(onnx, bytes) else str(onnx)
    if onnx is None:
        onnx = export_onnx(part, net, input_size, joint_set=joint_set, source_sha256=source_sha256)
    elif not isinstance(onnx, bytes):
        onnx = Path(onnx)
        if not onnx.is_file():
            raise EstimatorError(f"{onnx}: the {part} ONNX file does not exist")
    meta = read_metadata(onnx)
    expect = {"input_size": input_size}
    if part == "posenet":
        expect.update(joint_num=net.joint_num, depth_dim=net.depth_dim)
    check_metadata(meta, source, part, heads=getattr(net, "heads", None) if part == "detector" else None, **expect)
    if source_sha256 and meta.get("source_sha256") not in (None, source_sha256):
        raise EstimatorError(f"{source}: exported from other {part} weights (source_sha256 "
                             f"{meta['source_sha256'][:12]}…, the weights are {source_sha256[:12]}…); re-export")
    want = "int8" if precision == "int8" else "fp32"
    if meta.get("precision") != want:
        raise EstimatorError(f"{source}: a {meta.get('precision')} export, but precision {precision} needs {want}")
    threads = threads or torch.get_num_threads()
    if backend == "onnxruntime":
        run = _ort_session(onnx, max(1, threads // streams))
    else:
        run = _ov_compiled(onnx, threads, {"bf16": "bf16"}.get(used, "f32"), net if part == "detector" else None,
                           part, source, streams)
    heads = list(net.heads) if part == "detector" else None
    return OnnxNetwork(part, run, meta, heads), RunnerInfo(backend, precision, used, note)


__all__ = ["BACKENDS", "PRECISIONS", "AutocastNetwork", "OnnxNetwork", "RunnerInfo", "cpu_flags", "make_runner",
           "native_bf16", "require"]
