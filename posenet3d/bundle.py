"""Estimator bundles: one folder with ``estimator.yaml`` and the three networks' weights, read and written.

:func:`read_bundle` parses and checks a folder; :func:`save_bundle` writes one atomically;
:func:`build_network` makes the (randomly initialised) network a :class:`~posenet3d.config.ModelConfig`
describes. The weight files (``centernet.pth``, ``rootnet.pth``, ``posenet.pth``) are network state_dicts,
possibly stored in float16, loaded with :func:`~posenet3d.checkpoint.load_weights` and cast to the model's
dtype. ``estimator.yaml``::

    format: posenet3d-estimator-bundle
    version: 1
    model: {name: posenet3d-synthetic, version: "1", domain: synthetic,   # what the networks are (optional)
            files: {detector: <sha256>, rootnet: <sha256>, posenet: <sha256>}}
    detector: {weights: centernet.pth, model: {task: centernet, arch: res_18, input_size: 512, ...}}
    rootnet:  {weights: rootnet.pth,   model: {task: rootnet, backbone_depth: 18, ...}}
    posenet:  {weights: posenet.pth,   model: {task: posenet, joint_set: MuCo, ...}}
    options:  {det_score_thresh: 0.3, flip_test: true}   # optional Estimator keyword arguments

Instead of CenterNet weights, the detector may be one of torchvision's COCO detectors, built with torchvision's
COCO weights from its own cache (:mod:`posenet3d.detection.torchvision_detectors`; RootNet and PoseNet as
above)::

    detector: {torchvision: fasterrcnn_v2}          # or retinanet, fcos, ssdlite

The parts' ``model`` entries are :class:`~posenet3d.config.ModelConfig` fields; each part may carry ``sha256``
and ``bytes`` of its file, checked on load. The top-level ``model`` is the bundle's identity, carried into every
result's JSON: ``name``, ``version``, ``domain`` (what it was trained on, one of :data:`MODEL_DOMAINS`:
``synthetic`` scenes only, the ``published`` checkpoints, or your ``own`` training) and the SHA-256 of each
part's file. A bundle without it (written before it existed) reads as ``name`` = the folder's name, no
version, domain ``own``.
"""
from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import torch
import yaml
from torch import nn

from .camera import EstimatorError
from .checkpoint import CheckpointError, compare_state_dicts, save_snapshot
from .config import Config, ConfigError, ModelConfig, config_from_dict
from .fileio import write_text_atomic

log = logging.getLogger(__name__)

BUNDLE_FILE = "estimator.yaml"
BUNDLE_FORMAT = "posenet3d-estimator-bundle"
BUNDLE_VERSION = 1
#: The parts of a bundle, their weight file names and the config task each must have.
BUNDLE_PARTS: dict[str, tuple[str, str]] = {"detector": ("centernet.pth", "centernet"),
                                            "rootnet": ("rootnet.pth", "rootnet"),
                                            "posenet": ("posenet.pth", "posenet")}
#: What a model was trained on: synthetic scenes only, the published checkpoints' data, or the user's own.
MODEL_DOMAINS = ("synthetic", "published", "own")


def model_identity(name: str, version: str | None, domain: str, files: Mapping[str, str | os.PathLike],
                   sha256: Mapping[str, str]) -> dict:
    """The identity of a set of networks as results carry it (``EstimateResult.model``): ``name``, ``version``
    (None when unknown), ``domain`` (:data:`MODEL_DOMAINS`) and per part ``{"file": name, "sha256": hex}``."""
    if domain not in MODEL_DOMAINS:
        raise EstimatorError(f"model domain must be one of {list(MODEL_DOMAINS)}, got {domain!r}")
    return {"name": str(name), "version": None if version is None else str(version), "domain": domain,
            "files": {part: {"file": Path(path).name, "sha256": sha256[part]} for part, path in files.items()}}


def build_network(model_cfg: ModelConfig) -> nn.Module:
    """The network a :class:`ModelConfig` describes (``task`` posenet / rootnet / centernet), randomly
    initialised (no ImageNet download). Only the network modules are imported, no training code."""
    from .nets.backbone import ResNetBackbone
    m = model_cfg
    if m.task == "posenet":
        from .posenet.model import PoseNet
        from .skeletons import get_joint_set
        return PoseNet(ResNetBackbone(m.backbone_depth, m.backbone_width), get_joint_set(m.joint_set).joint_num,
                       m.depth_dim, m.head_channels)
    if m.task == "rootnet":
        from rootnet import RootNet
        return RootNet(ResNetBackbone(m.backbone_depth, m.backbone_width), m.head_channels)
    if m.task == "centernet":
        from .detection.model import CenterNet, ctdet_heads, multi_pose_heads
        heads = ctdet_heads(m.num_classes) if m.centernet_task == "ctdet" else multi_pose_heads()
        return CenterNet(m.arch, heads, m.head_conv, width=m.backbone_width, imagenet=False)
    raise EstimatorError(f"model.task {m.task!r}: the estimator builds posenet, rootnet and centernet networks")


def option_names() -> tuple[str, ...]:
    """The :class:`~posenet3d.estimator.Estimator` keyword arguments a bundle may store as ``options``."""
    import inspect

    # the bundle format follows the Estimator's signature (imported here: the estimator imports this module)
    from .estimator import Estimator
    return tuple(name for name, p in inspect.signature(Estimator.__init__).parameters.items()
                 if p.kind == p.KEYWORD_ONLY
                 and name not in ("pose_cfg", "root_cfg", "device", "identity", "onnx_files"))


def check_options(options: Mapping, source: str) -> None:
    """Raise :class:`EstimatorError` naming ``source`` for keys that are not estimator options."""
    known = option_names()
    unknown = sorted(set(options) - set(known))
    if unknown:
        raise EstimatorError(f"{source}: unknown estimator option(s) {unknown}; known: {list(known)}")


@dataclass
class BundleSpec:
    """A parsed ``estimator.yaml``: ``folder``, per part its :class:`ModelConfig` (``cfgs``) and weight file
    (``paths``), the estimator ``options`` and the bundle's identity ``model`` (:func:`model_identity`).
    ``detector``: ``"torchvision:NAME"`` when the bundle names a torchvision detector (then ``cfgs`` and
    ``paths`` hold no ``detector``), else None."""

    folder: Path
    cfgs: dict[str, ModelConfig]
    paths: dict[str, Path]
    options: dict
    model: dict = dataclasses.field(default_factory=dict)
    detector: str | None = None


@dataclass
class BundleInfo:
    """What :func:`save_bundle` wrote: ``folder``, bytes per file and ``total_bytes``."""

    folder: Path
    files: dict[str, int]
    total_bytes: int


def sha256_file(path: str | os.PathLike) -> str:
    """The SHA-256 of a file's bytes, as hex."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def read_bundle(folder: str | os.PathLike) -> BundleSpec:
    """Parse and check ``<folder>/estimator.yaml`` (format, parts, configs, files, sizes and hashes when
    recorded). Raises :class:`EstimatorError` naming the file and the field."""
    folder = Path(folder)
    yaml_path = folder / BUNDLE_FILE
    if not yaml_path.is_file():
        raise EstimatorError(f"{yaml_path} does not exist: {folder} is not an estimator bundle (it needs "
                             f"{BUNDLE_FILE} and {', '.join(f for f, _ in BUNDLE_PARTS.values())})")
    try:
        data = yaml.safe_load(yaml_path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise EstimatorError(f"{yaml_path}: cannot be read as YAML ({type(exc).__name__}: {exc})") from None
    if not isinstance(data, dict):
        raise EstimatorError(f"{yaml_path}: expected a mapping at the top level, got {type(data).__name__}")
    if data.get("format", BUNDLE_FORMAT) != BUNDLE_FORMAT:
        raise EstimatorError(f"{yaml_path}: format is {data.get('format')!r}, expected {BUNDLE_FORMAT!r}")
    if int(data.get("version", BUNDLE_VERSION)) > BUNDLE_VERSION:
        raise EstimatorError(f"{yaml_path}: bundle version {data.get('version')} is newer than this code "
                             f"understands ({BUNDLE_VERSION})")
    ident = data.get("model") or {}
    if not isinstance(ident, dict) or not isinstance(ident.get("files") or {}, dict):
        raise EstimatorError(f"{yaml_path}: 'model' must be a mapping {{name, version, domain, files: {{part: "
                             f"sha256}}}}, got {ident!r}")
    recorded = ident.get("files") or {}
    cfgs, paths, hashes = {}, {}, {}
    tv_detector = None
    for part, (default_file, task) in BUNDLE_PARTS.items():
        entry = data.get(part)
        if part == "detector" and isinstance(entry, dict) and "torchvision" in entry:
            tv_detector = _torchvision_entry(entry, yaml_path)
            continue
        if not isinstance(entry, dict) or not isinstance(entry.get("model"), dict):
            raise EstimatorError(f"{yaml_path}: '{part}' must be a mapping with 'weights' and 'model'")
        try:
            cfg = config_from_dict({"model": entry["model"]}, f"{yaml_path} ({part})").model
        except ConfigError as exc:
            raise EstimatorError(str(exc)) from None
        if cfg.task != task:
            raise EstimatorError(f"{yaml_path}: '{part}.model.task' is {cfg.task!r}, expected {task!r}")
        path = folder / str(entry.get("weights", default_file))
        if not path.is_file():
            raise EstimatorError(f"{yaml_path}: the {part} weights {path} do not exist")
        size = path.stat().st_size
        if "bytes" in entry and int(entry["bytes"]) != size:
            raise EstimatorError(f"{path}: {size} bytes, but {BUNDLE_FILE} records {entry['bytes']} (truncated or "
                                 f"replaced file)")
        hashes[part] = sha256_file(path)
        for where, want in ((f"'{part}.sha256'", entry.get("sha256")), (f"'model.files.{part}'", recorded.get(part))):
            if want is not None and hashes[part] != str(want):
                raise EstimatorError(f"{path}: the SHA-256 differs from the one recorded in {BUNDLE_FILE} "
                                     f"({where}; corrupt or replaced file)")
        cfgs[part], paths[part] = cfg, path
    options = data.get("options") or {}
    if not isinstance(options, dict):
        raise EstimatorError(f"{yaml_path}: 'options' must be a mapping, got {type(options).__name__}")
    check_options(options, str(yaml_path))
    try:
        model = model_identity(ident.get("name") or folder.resolve().name, ident.get("version"),
                               ident.get("domain", "own"), paths, hashes)
    except EstimatorError as exc:
        raise EstimatorError(f"{yaml_path}: 'model.domain': {exc}") from None
    if tv_detector is not None:
        model["files"] = {"detector": {"file": tv_detector, "sha256": None}, **model["files"]}
    return BundleSpec(folder, cfgs, paths, dict(options), model, tv_detector)


def _torchvision_entry(entry: dict, yaml_path: Path) -> str:
    """``torchvision:NAME`` of a bundle's ``detector: {torchvision: NAME}`` entry, checked."""
    from .detection.torchvision_detectors import PREFIX, parse_name
    extra = sorted(set(entry) - {"torchvision"})
    if extra:
        raise EstimatorError(f"{yaml_path}: 'detector' names a torchvision detector and carries nothing else, "
                             f"got also {extra}")
    try:
        return PREFIX + parse_name(str(entry["torchvision"]))
    except EstimatorError as exc:
        raise EstimatorError(f"{yaml_path}: 'detector.torchvision': {exc}") from None


def _model_cfg(cfg, part: str) -> ModelConfig:
    if isinstance(cfg, Config):
        cfg = cfg.model
    if not isinstance(cfg, ModelConfig):
        raise EstimatorError(f"save_bundle: the {part} config must be a Config or ModelConfig, got "
                             f"{type(cfg).__name__}")
    return cfg


def _narrowed(tensor: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """``tensor`` stored as ``dtype`` when its values fit that type's range, else unchanged. (Networks fed the
    reference's 0–255 input scale have first-layer BatchNorm variances in the millions, beyond float16's 65504.)"""
    if not tensor.is_floating_point() or tensor.dtype == dtype:
        return tensor
    if tensor.numel() and float(tensor.abs().max()) >= torch.finfo(dtype).max:
        return tensor
    return tensor.to(dtype)


def _swap_in(tmp: Path, folder: Path) -> None:
    """Replace ``folder`` by the assembled bundle ``tmp`` with renames, carrying over the files of an existing
    ``folder`` that are not part of a bundle (e.g. a README)."""
    own = {BUNDLE_FILE} | {f for f, _ in BUNDLE_PARTS.values()}
    if not folder.exists():
        os.replace(tmp, folder)
        return
    for p in folder.iterdir():
        if p.name not in own:
            (shutil.copytree if p.is_dir() else shutil.copy2)(p, tmp / p.name)
    backup = folder.with_name(f".{folder.name}.old-{os.getpid()}-{time.time_ns()}")
    os.replace(folder, backup)
    os.replace(tmp, folder)
    shutil.rmtree(backup, ignore_errors=True)


def save_bundle(folder: str | os.PathLike, cfgs: Mapping[str, ModelConfig | Config],
                models: Mapping[str, nn.Module], dtype: torch.dtype | None = torch.float16,
                options: Mapping | None = None, name: str | None = None, version: str | None = None,
                domain: str = "own") -> BundleInfo:
    """Write an estimator bundle (module docstring) to ``folder`` atomically and return its sizes.

    ``cfgs`` and ``models`` map ``detector``/``rootnet``/``posenet`` to each network's config and module (or
    ``cfgs["detector"] = "torchvision:NAME"``, a torchvision detector, with no ``models["detector"]``); every
    state_dict is checked against a network built from its config before anything is written. Floating-point
    tensors are stored as ``dtype`` (None: as they are) except those whose values exceed that type's range, which
    keep their own; the file sizes and SHA-256 go into ``estimator.yaml``.
    ``options`` are :class:`Estimator` keyword arguments stored with the bundle; ``name`` (default: the folder's
    name), ``version`` and ``domain`` (:data:`MODEL_DOMAINS`) its identity, stored with the files' SHA-256.

    The bundle is assembled in a temporary folder beside ``folder`` and swapped in by renames; files of an
    existing ``folder`` that are not part of a bundle (e.g. a README) are carried over.
    """
    folder = Path(folder)
    tv_detector = None
    if isinstance(cfgs.get("detector"), str):
        from .detection.torchvision_detectors import PREFIX, parse_name
        tv_detector = PREFIX + parse_name(cfgs["detector"])
        models = {"detector": None, **models}
    missing = [p for p in BUNDLE_PARTS if p not in cfgs or p not in models]
    extra = sorted((set(cfgs) | set(models)) - set(BUNDLE_PARTS))
    if missing or extra:
        raise EstimatorError(f"save_bundle: needs exactly the parts {list(BUNDLE_PARTS)} in cfgs and models "
                             f"(missing {missing}, unknown {extra})")
    options = dict(options or {})
    check_options(options, "save_bundle options")
    model_identity(name or folder.name, version, domain, {}, {})  # checks the domain before any work
    states, mcfgs = {}, {}
    for part, (_, task) in BUNDLE_PARTS.items():
        if part == "detector" and tv_detector is not None:
            continue
        mc = _model_cfg(cfgs[part], part)
        if mc.task != task:
            raise EstimatorError(f"save_bundle: the {part} config has task {mc.task!r}, expected {task!r}")
        model = models[part]
        model = model.module if hasattr(model, "module") and isinstance(model.module, nn.Module) else model
        model = getattr(model, "_orig_mod", model)
        state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
        problems = compare_state_dicts(build_network(mc).state_dict(), state)
        if problems:
            raise CheckpointError(f"save_bundle: the {part} network does not fit its config: " + "; ".join(problems))
        if dtype is not None:
            state = {k: _narrowed(v, dtype) for k, v in state.items()}
        states[part], mcfgs[part] = state, mc

    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}.tmp-"))
    try:
        os.chmod(tmp, (folder.stat().st_mode & 0o7777) if folder.is_dir() else 0o755)  # mkdtemp makes it 0700
        doc: dict = {"format": BUNDLE_FORMAT, "version": BUNDLE_VERSION,
                     "model": {"name": name or folder.name, "version": None if version is None else str(version),
                               "domain": domain, "files": {}},
                     "dtype": str(dtype).replace("torch.", "") if dtype is not None else "as saved"}
        files = {}
        for part, (fname, _) in BUNDLE_PARTS.items():
            if part == "detector" and tv_detector is not None:
                doc[part] = {"torchvision": tv_detector.removeprefix("torchvision:")}
                continue
            path = save_snapshot(tmp / fname, states[part])
            files[fname] = path.stat().st_size
            model_dict = {k: list(v) if isinstance(v, tuple) else v
                          for k, v in dataclasses.asdict(mcfgs[part]).items()}
            doc[part] = {"weights": fname, "bytes": files[fname], "sha256": sha256_file(path), "model": model_dict}
            doc["model"]["files"][part] = doc[part]["sha256"]
        if options:
            doc["options"] = options
        files[BUNDLE_FILE] = write_text_atomic(tmp / BUNDLE_FILE, yaml.safe_dump(doc, sort_keys=False)).stat().st_size
        _swap_in(tmp, folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    total = sum(files.values())
    log.info("wrote estimator bundle %s: %s, total %.1f MB", folder,
             ", ".join(f"{k} {v / 1e6:.1f} MB" for k, v in files.items()), total / 1e6)
    return BundleInfo(folder, files, total)


__all__ = ["BUNDLE_FILE", "BUNDLE_PARTS", "MODEL_DOMAINS", "BundleInfo", "BundleSpec", "build_network",
           "check_options", "model_identity", "read_bundle", "save_bundle", "sha256_file"]
