"""Shared fixtures: a tiny synthetic world (MuCo-layout train split, MuPoTS-layout test split), generated once."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from posenet3d.config import load_config


@pytest.fixture(autouse=True, scope="session")
def one_torch_thread():
    """Run the suite's tiny networks on one intra-op thread (restored afterwards): on a busy shared 2-core CPU,
    multi-thread barriers make tiny convolutions many times slower."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="session")
def tiny_world(tmp_path_factory) -> Path:
    from posenet3d.synth import generate
    out = tmp_path_factory.mktemp("synthetic")
    generate(out, num_train=10, num_test=4, seed=7, size=160)
    return out


@pytest.fixture(scope="session")
def tiny_config():
    """``tiny_config(world, out_dir, task, *overrides)`` → a config for a very small network on the tiny world."""
    return _tiny_config


def _tiny_config(world: Path, out_dir: Path, task: str = "posenet", *extra: str):
    """A config for a very small network on the tiny world (CPU, seconds per epoch)."""
    return load_config(None, [
        "name=tiny", f"output_dir={out_dir}", f"model.task={task}", "model.backbone_depth=18",
        "model.backbone_width=0.25", "model.pretrained=none", "model.input_size=64", "model.depth_dim=8",
        "model.head_channels=16", "data.trainset_3d=[MuCo]", "data.trainset_2d=[]", "data.testset=MuPoTS",
        f"data.roots={{MuCo: {world / 'train'}, MuPoTS: {world / 'test'}}}", "data.num_workers=0",
        "train.batch_size=4", "train.end_epoch=2", "train.log_interval=1000", "test.batch_size=8", *extra])
