"""Experiment configuration: YAML files in ``cfg/`` loaded into typed dataclasses.

* A YAML file may name a parent with ``_base_: other.yaml`` (relative to the file); its keys override the parent's.
* Command-line overrides are ``section.key=value`` strings (values parsed as YAML: ``train.lr=1e-4``,
  ``data.trainset_3d=[MuCo]``).
* Unknown keys and values of the wrong type raise :class:`ConfigError` naming the key (and file).
* :func:`dump_config` writes the resolved config next to a run's outputs.

There is no global config object: a :class:`Config` is built once and passed to whatever needs it.
"""
from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .fileio import write_text_atomic


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


@dataclass
class TestConfig:
    batch_size: int = 32
    flip_test: bool = True
    use_gt_info: bool = True  # GT boxes and roots (reference default)


@dataclass
class Config:
    name: str = "default"
    output_dir: str = "output"
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    test: TestConfig = field(default_factory=TestConfig)


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
    kwargs = {k: _coerce(v, hints[k], f"{prefix}.{k}" if prefix else k, source) for k, v in values.items()}
    return cls(**kwargs)


def _merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def _read_yaml(path: Path, seen: tuple[Path, ...] = ()) -> dict:
    path = Path(path).resolve()
    if path in seen:
        raise ConfigError(f"{path}: _base_ inheritance cycle")
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
    return config_from_dict(values, source)


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
