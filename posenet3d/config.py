"""Experiment configuration: YAML files in ``cfg/`` loaded into typed dataclasses.

* A YAML file may name a parent with ``_base_: other.yaml`` (relative to the file); its keys override the parent's.
* Command-line overrides are ``section.key=value`` strings (values parsed as YAML: ``train.lr=1e-4``,
  ``data.trainset_3d=[MuCo]``).
* Unknown keys, values of the wrong type and values out of range (:func:`validate`) raise :class:`ConfigError`
  naming the key (and file).
* :func:`dump_config` writes the resolved config next to a run's outputs.

There is no global config object: a :class:`Config` is built once and passed to whatever needs it.
"""
from __future__ import annotations

import dataclasses
import math
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .fileio import write_text_atomic
from .smoothing import SmoothingConfig
from .tracking import TrackerConfig


class ConfigError(ValueError):
    """A configuration file or override is invalid; the message names the key and the file."""


@dataclass
class ModelConfig:
    """Which network and its shape. Sizes in pixels; ``depth_dim`` in bins over ±bbox_3d_depth_mm/2."""

    task: str = "posenet"  # posenet | rootnet | centernet
    backbone_depth: int = 50  # ResNet-18/34/50/101/152
    backbone_width: float = 1.0  # <1: narrower ResNet (CPU variant; no ImageNet weights)
    pretrained: str = "imagenet"  # imagenet | none | torchvision ResNet state_dict | posenet3d snapshot (trunk)
    joint_set: str = "MuCo"  # the model's output joint set (posenet3d.skeletons)
    input_size: int = 256  # square crop side (px); heatmaps are input_size/4
    depth_dim: int = 64  # PoseNet depth bins
    head_channels: int = 256
    bbox_3d_depth_mm: float = 2000.0  # PoseNet depth range: ±1000 mm around the root
    area_real_mm: tuple[float, float] = (2000.0, 2000.0)  # RootNet's A_real (use (2, 2) for data in metres)
    # CenterNet
    arch: str = "res_18"  # res_18 | res_101 | resdcn_18 | resdcn_101
    head_conv: int = 64
    num_classes: int = 1
    centernet_task: str = "ctdet"  # ctdet (boxes) | multi_pose (boxes + 17 COCO keypoints)


@dataclass
class DataConfig:
    """Datasets by name (posenet3d.datasets.registry) and where they live on disk."""

    trainset_3d: list[str] = field(default_factory=lambda: ["MuCo"])
    trainset_2d: list[str] = field(default_factory=lambda: ["MSCOCO"])
    testset: str = "MuPoTS"
    roots: dict[str, str] = field(default_factory=dict)  # dataset name -> folder (default data/<name>)
    num_workers: int = 4
    h36m_protocol: int = 2
    bbox_root_file: str = ""  # PoseNet test: published/RootNet bbox_root_*_output.json ("" = GT info)
    bbox_file: str = ""  # RootNet test: detector boxes bbox_*_output.json ("" = GT boxes)
    det_train_ann: str = "data/MSCOCO/annotations/person_keypoints_train2017.json"  # CenterNet: COCO-format json
    det_train_images: str = "data/MSCOCO/images/train2017"  # folder the json's file_name is relative to
    det_test_ann: str = "data/MSCOCO/annotations/person_keypoints_val2017.json"
    det_test_images: str = "data/MSCOCO/images/val2017"
    min_root_depth_mm: float = 0.0  # RootNet training filter (reference MuCo: 1500..7500); 0 = off
    max_root_depth_mm: float = 0.0


@dataclass
class TrainConfig:
    """Optimisation. The reference: Adam 1e-3, ×0.1 at epochs 17 and 21, 25 epochs, 32 per GPU."""

    batch_size: int = 32  # per GPU (per process)
    lr: float = 1e-3
    lr_dec_epoch: list[int] = field(default_factory=lambda: [17, 21])
    lr_dec_factor: float = 10.0
    end_epoch: int = 25
    weight_decay: float = 0.0
    amp: bool = True  # on CUDA only
    channels_last: bool = False
    sync_bn: bool = False
    freeze_bn: bool = False  # BN layers in eval mode (small batches; makes DDP equal to one big batch)
    seed: int = 0
    aux_heatmap_weight: float = 0.0  # PoseNet: weight of the auxiliary marginal-heatmap loss (0 = reference)
    det_size_weight: float = 0.1  # CenterNet: weight of the box-size L1 loss (0.1 = reference)
    log_interval: int = 50
    snapshot_interval: int = 1  # epochs
    max_iters_per_epoch: int = 0  # 0 = full epoch
    eval_interval: int = 0  # epochs between evaluations on the test set during training (rank 0); 0 = off
    tensorboard: bool = False  # scalars under <output_dir>/log/<name>/tensorboard (pip install ".[tensorboard]")


@dataclass
class TestConfig:
    batch_size: int = 32
    flip_test: bool = True
    use_gt_info: bool = True  # GT boxes and roots (reference default)
    max_samples: int = 0  # test on the first images holding at most this many people (CenterNet: images); 0 = all


@dataclass
class Config:
    name: str = "default"
    output_dir: str = "output"
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    test: TestConfig = field(default_factory=TestConfig)
    tracker: TrackerConfig = field(default_factory=TrackerConfig)  # video: identities (mm, frames)
    smoothing: SmoothingConfig = field(default_factory=SmoothingConfig)  # video: 3D smoothing (Hz, 1/mm, s)


def _coerce(value: Any, tp: Any, key: str, source: str) -> Any:
    origin = typing.get_origin(tp)
    try:
        if tp is Any:
            return value
        if dataclasses.is_dataclass(tp):
            if not isinstance(value, dict):
                raise TypeError(f"expected a mapping, got {value!r}")
            return _build(tp, value, key, source)
        if origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(tp) if a is not type(None)]
            return None if value is None else _coerce(value, args[0], key, source)
        if origin in (list, tuple):
            if not isinstance(value, (list, tuple)):
                raise TypeError(f"expected a list, got {value!r}")
            args = typing.get_args(tp)
            if origin is tuple and args and args[-1] is not Ellipsis:
                if len(value) != len(args):
                    raise TypeError(f"expected {len(args)} items, got {len(value)}")
                return tuple(_coerce(v, a, key, source) for v, a in zip(value, args))
            item = args[0] if args else Any
            return origin(_coerce(v, item, key, source) for v in value)
        if origin is dict:
            if not isinstance(value, dict):
                raise TypeError(f"expected a mapping, got {value!r}")
            kt, vt = typing.get_args(tp) or (Any, Any)
            return {_coerce(k, kt, key, source): _coerce(v, vt, key, source) for k, v in value.items()}
        if tp is bool:
            if not isinstance(value, bool):
                raise TypeError(f"expected true/false, got {value!r}")
            return value
        if tp is float:
            if isinstance(value, str):  # YAML 1.1 reads '1e-4' as a string
                try:
                    return float(value)
                except ValueError:
                    raise TypeError(f"expected a number, got {value!r}") from None
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise TypeError(f"expected a number, got {value!r}")
            return float(value)
        if tp is int:
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(f"expected an integer, got {value!r}")
            return value
        if tp is str:
            if not isinstance(value, (str, int, float)) or isinstance(value, bool):
                raise TypeError(f"expected a string, got {value!r}")
            return str(value)
    except ConfigError:
        raise
    except TypeError as exc:
        raise ConfigError(f"{source}: bad value for '{key}': {exc}") from None
    return value


def _build(cls: type, values: dict, prefix: str, source: str):
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - names)
    if unknown:
        where = f"'{prefix}.{unknown[0]}'" if prefix else f"'{unknown[0]}'"
        raise ConfigError(f"{source}: unknown config key {where}; known keys"
                          f"{' of ' + prefix if prefix else ''}: {sorted(names)}")
    values = dict(values)
    for f in dataclasses.fields(cls):  # a partial nested section keeps the defaults of what it does not name
        if isinstance(values.get(f.name), dict) and f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
            if dataclasses.is_dataclass(default):
                values[f.name] = _merge(dataclasses.asdict(default), values[f.name])
    kwargs = {k: _coerce(v, hints[k], f"{prefix}.{k}" if prefix else k, source) for k, v in values.items()}
    try:
        return cls(**kwargs)
    except ValueError as exc:  # a section that checks its own values (tracker, smoothing)
        raise ConfigError(f"{source}: {prefix or 'config'}: {exc}") from None


def _merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def _read_yaml(path: Path, seen: tuple[Path, ...] = ()) -> dict:
    path = Path(path).resolve()
    if path in seen:
        raise ConfigError(f"{path}: _base_ inheritance cycle")
    if path.is_dir():
        found = sorted(p.name for p in path.glob("*.yaml"))[:6]
        raise ConfigError(f"config {path} is a folder; give a YAML file in it"
                          + (f", e.g. {', '.join(found)}" if found else ""))
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist (configs live in cfg/)")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping")
    base = data.pop("_base_", None)
    if base:
        data = _merge(_read_yaml(path.parent / base, seen + (path,)), data)
    return data


def parse_override(text: str) -> tuple[list[str], Any]:
    """``'train.lr=1e-4'`` → (['train', 'lr'], 0.0001)."""
    if "=" not in text:
        raise ConfigError(f"override {text!r} is not of the form section.key=value")
    key, raw = text.split("=", 1)
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    return key.strip().split("."), value


def config_from_dict(values: dict, source: str = "<dict>") -> Config:
    return _build(Config, values, "", source)


def load_config(path: str | Path | None = None, overrides: list[str] | tuple[str, ...] = ()) -> Config:
    """Load a YAML config (with ``_base_`` inheritance) and apply ``section.key=value`` overrides."""
    values = _read_yaml(Path(path)) if path else {}
    for text in overrides:
        keys, value = parse_override(text)
        node = values
        for k in keys[:-1]:
            node = node.setdefault(k, {})
            if not isinstance(node, dict):
                raise ConfigError(f"override {text!r}: '{k}' is not a section")
        node[keys[-1]] = value
    source = f"{path}" + (f" (with overrides {list(overrides)})" if overrides else "") if path else "overrides"
    return validate(config_from_dict(values, source), source)


#: (key, test, what the value must be) — checked after loading, so a bad value is one line naming the key
#: before any model or data is touched.
_RULES: tuple[tuple[str, typing.Callable[[Any], bool], str], ...] = (
    ("model.task", lambda v: v in ("posenet", "rootnet", "centernet"), "one of posenet, rootnet, centernet"),
    ("model.backbone_depth", lambda v: v in (18, 34, 50, 101, 152), "one of 18, 34, 50, 101, 152"),
    ("model.backbone_width", lambda v: 0 < v <= 4, "in (0, 4]"),
    ("model.input_size", lambda v: v > 0 and v % 32 == 0, "a positive multiple of 32 (px)"),
    ("model.depth_dim", lambda v: v > 0, "positive"),
    ("model.head_channels", lambda v: v > 0, "positive"),
    ("model.bbox_3d_depth_mm", lambda v: math.isfinite(v) and v > 0, "a positive number of mm"),
    ("model.area_real_mm", lambda v: all(math.isfinite(x) and x > 0 for x in v), "two positive numbers"),
    ("model.arch", lambda v: v in ("res_18", "res_101", "resdcn_18", "resdcn_101"),
     "one of res_18, res_101, resdcn_18, resdcn_101"),
    ("model.head_conv", lambda v: v > 0, "positive"),
    ("model.num_classes", lambda v: v >= 1, "1 or more"),
    ("model.centernet_task", lambda v: v in ("ctdet", "multi_pose"), "ctdet or multi_pose"),
    ("data.num_workers", lambda v: v >= 0, "0 or more"),
    ("data.h36m_protocol", lambda v: v in (1, 2), "1 or 2"),
    ("train.batch_size", lambda v: v >= 1, "1 or more"),
    ("train.lr", lambda v: math.isfinite(v) and v > 0, "a positive number"),
    ("train.lr_dec_factor", lambda v: math.isfinite(v) and v > 0, "a positive number"),
    ("train.end_epoch", lambda v: v >= 1, "1 or more"),
    ("train.weight_decay", lambda v: math.isfinite(v) and v >= 0, "0 or more"),
    ("train.aux_heatmap_weight", lambda v: math.isfinite(v) and v >= 0, "0 or more"),
    ("train.det_size_weight", lambda v: math.isfinite(v) and v >= 0, "0 or more"),
    ("train.log_interval", lambda v: v >= 1, "1 or more"),
    ("train.snapshot_interval", lambda v: v >= 1, "1 or more"),
    ("train.max_iters_per_epoch", lambda v: v >= 0, "0 (whole epochs) or more"),
    ("train.eval_interval", lambda v: v >= 0, "0 (no evaluation during training) or more"),
    ("test.batch_size", lambda v: v >= 1, "1 or more"),
    ("test.max_samples", lambda v: v >= 0, "0 (the whole test set) or more"),
)


def validate(cfg: Config, source: str = "<config>") -> Config:
    """Check every value's range and choices; a :class:`ConfigError` names the first bad key and value."""
    from .skeletons import JOINT_SETS
    for key, ok, must in (*_RULES, ("model.joint_set", lambda v: v in JOINT_SETS, f"one of {sorted(JOINT_SETS)}")):
        section, name = key.split(".")
        value = getattr(getattr(cfg, section), name)
        if not ok(value):
            raise ConfigError(f"{source}: {key}={value!r} is not valid: it must be {must}")
    if cfg.train.eval_interval > 0:
        test_key = "data.det_test_ann" if cfg.model.task == "centernet" else "data.testset"
        if not str(getattr(cfg.data, test_key.split(".")[1])).strip():
            raise ConfigError(f"{source}: train.eval_interval={cfg.train.eval_interval} evaluates on the test set "
                              f"during training, but {test_key} is empty: name a test set or set "
                              "train.eval_interval=0")
    return cfg


def config_to_dict(cfg: Config) -> dict:
    def plain(v):
        if isinstance(v, tuple):
            return [plain(x) for x in v]
        if isinstance(v, list):
            return [plain(x) for x in v]
        if isinstance(v, dict):
            return {k: plain(x) for k, x in v.items()}
        return v
    return plain(dataclasses.asdict(cfg))


def dump_config(cfg: Config, path: str | Path) -> None:
    """Write the resolved config as YAML (atomically)."""
    write_text_atomic(path, yaml.safe_dump(config_to_dict(cfg), sort_keys=False))
