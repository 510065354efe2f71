"""Dataset name → adapter class, so a config can say ``name: MuCo`` and get records.

The table is read-only. A dataset that is not listed needs no edit here: write one new file with an adapter
class (constructor ``(root, split, **options)``; attributes ``records``, ``joint_set``, ``has_depth``,
``name``; optionally ``evaluator = "module:Class"``, its test-set evaluator) and name it in the config as
``"package.module:ClassName"``. A registered dataset's evaluator is named in its :class:`DatasetSpec`.

Every adapter's ``root`` defaults to ``<data_dir>/<folder>``; the synthetic world uses the MuCo and MuPoTS
layouts, so ``build_dataset("MuCo", root="data/Synthetic/train")`` and
``build_dataset("MuPoTS", root="data/Synthetic/test")`` read it.
"""
from __future__ import annotations

import importlib
import inspect
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any


@dataclass(frozen=True)
class DatasetSpec:
    """A registered dataset: its adapter (``"module:Class"``), default folder under the data dir, splits."""

    name: str
    target: str
    folder: str
    splits: tuple[str, ...]
    evaluator: str = "posenet3d.evaluation.base:TestSetEvaluator"  # "module:Class" of its test-set evaluator


DATASETS: Mapping[str, DatasetSpec] = MappingProxyType({s.name: s for s in (
    DatasetSpec("Human36M", "posenet3d.datasets.human36m:Human36M", "Human36M", ("train", "test"),
                "posenet3d.evaluation.human36m:Human36MEvaluator"),
    DatasetSpec("MuCo", "posenet3d.datasets.muco:MuCo", "MuCo", ("train",)),
    DatasetSpec("MuPoTS", "posenet3d.datasets.mupots:MuPoTS", "MuPoTS", ("test",),
                "posenet3d.evaluation.mupots:MuPoTSEvaluator"),
    DatasetSpec("MSCOCO", "posenet3d.datasets.coco:MSCOCO", "MSCOCO", ("train", "test")),
    DatasetSpec("MPII", "posenet3d.datasets.mpii:MPII", "MPII", ("train",)),
)})


def dataset_names() -> list[str]:
    """The registered dataset names."""
    return list(DATASETS)


def _import(target: str) -> type:
    module_name, _, attr = target.partition(":")
    if not module_name or not attr:
        raise ValueError(f"dataset target {target!r} is not of the form 'package.module:ClassName'")
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:
        raise ValueError(f"dataset target {target!r}: cannot import module {module_name!r} ({e})") from None
    try:
        return getattr(module, attr)
    except AttributeError:
        raise ValueError(f"dataset target {target!r}: module {module_name!r} has no {attr!r}") from None


def get_adapter(name: str) -> type:
    """The adapter class for a registered ``name`` or a ``"package.module:ClassName"`` target."""
    if name in DATASETS:
        return _import(DATASETS[name].target)
    if ":" in name:
        return _import(name)
    raise KeyError(f"unknown dataset {name!r}; registered: {dataset_names()} "
                   f"(or give an adapter as 'package.module:ClassName')")


def get_evaluator(name: str, adapter=None):
    """The test-set evaluator of dataset ``name`` (:class:`posenet3d.evaluation.base.TestSetEvaluator` or a
    subclass) for ``adapter``. A ``"module:Class"`` adapter names its own in a class attribute ``evaluator``
    (``"module:Class"``); without one it gets the default."""
    if name in DATASETS:
        target = DATASETS[name].evaluator
    else:
        target = getattr(get_adapter(name), "evaluator", None) or DatasetSpec.evaluator
    return _import(target)(adapter)


def default_root(name: str, data_dir: Path | str = "data") -> Path:
    """``<data_dir>/<folder>`` of a dataset (for a ``module:Class`` target, the class's ``name``)."""
    if name in DATASETS:
        return Path(data_dir) / DATASETS[name].folder
    cls = get_adapter(name)
    folder = getattr(cls, "name", None)
    if not isinstance(folder, str):
        raise ValueError(f"dataset {name!r} has no default folder (its class has no 'name'); give root explicitly")
    return Path(data_dir) / folder


def build_dataset(name: str, split: str, root: Path | str | None = None, data_dir: Path | str = "data",
                  **options: Any):
    """Construct the adapter of ``name`` for ``split``.

    ``root`` defaults to :func:`default_root`. ``options`` go to the adapter's constructor (e.g.
    ``protocol=1`` for Human36M, ``use_gt_info=False`` for a test set, ``min_depth=1500`` for MuCo); an
    option the adapter does not take raises ``ValueError`` listing those it takes.
    """
    cls = get_adapter(name)
    if name in DATASETS and split not in DATASETS[name].splits:
        raise ValueError(f"dataset {name!r} has no split {split!r}; it has {list(DATASETS[name].splits)}")
    params = inspect.signature(cls).parameters
    if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        accepted = [k for k in params if k not in ("root", "split")]
        unknown = sorted(set(options) - set(accepted))
        if unknown:
            raise ValueError(f"dataset {name!r} does not take option(s) {unknown}; it takes {accepted}")
    return cls(root=Path(root) if root is not None else default_root(name, data_dir), split=split, **options)
