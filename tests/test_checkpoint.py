import json
from pathlib import Path

import pytest
import torch

from posenet3d.checkpoint import (
    CheckpointError,
    latest_snapshot,
    list_snapshots,
    load_weights,
    save_snapshot,
    snapshot_path,
)
from posenet3d.posenet.model import build_posenet
from rootnet import build_rootnet

FIX = Path(__file__).parent / "fixtures"


def _ref_keys(name: str, variant: str) -> dict[str, list[int]]:
    return json.loads((FIX / name).read_text())[variant]


def _published_like(ref: dict[str, list[int]]) -> dict[str, torch.Tensor]:
    """A fake published snapshot: random tensors with exactly the reference names and shapes."""
    g = torch.Generator().manual_seed(0)
    state = {}
    for k, shape in ref.items():
        state[k] = (torch.tensor(7, dtype=torch.int64) if k.endswith("num_batches_tracked")
                    else torch.rand(shape, generator=g) + 0.1)
    return state


@pytest.mark.parametrize("variant,joints", [("joint_num_21_MuCo", 21), ("joint_num_18_H36M", 18)])
def test_posenet_matches_reference_keys(variant, joints):
    ref = _ref_keys("posenet_r50_keys.json", variant)
    ours = build_posenet(50, joints).state_dict()
    assert list(ours) == [k[len("module."):] for k in ref]
    assert all(list(ours[k[7:]].shape) == s for k, s in ref.items())
    assert sum(v.numel() for k, v in ours.items() if "running" not in k and "num_batches" not in k) == \
        json.loads((FIX / "posenet_r50_keys.json").read_text())["_meta"]["param_count"][f"J{joints}"]


def test_rootnet_matches_reference_keys():
    ref = _ref_keys("rootnet_r50_keys.json", "resnet50")
    ours = build_rootnet(50).state_dict()
    assert list(ours) == [k[len("module."):] for k in ref]
    assert all(list(ours[k[7:]].shape) == s for k, s in ref.items())


def test_published_snapshot_loads_unchanged(tmp_path):
    ref = _ref_keys("posenet_r50_keys.json", "joint_num_21_MuCo")
    state = _published_like(ref)
    path = tmp_path / "snapshot_24.pth.tar"
    torch.save({"epoch": 24, "network": state, "optimizer": {}}, path)
    model = build_posenet(50, 21)
    load_weights(model, path)
    torch.testing.assert_close(model.head.final_layer.bias, state["module.head.final_layer.bias"])
    torch.testing.assert_close(model.backbone.conv1.weight, state["module.backbone.conv1.weight"])
    # RootNet too, without the prefix and without num_batches_tracked (older torch)
    rref = _ref_keys("rootnet_r50_keys.json", "resnet50")
    rstate = {k[7:]: v for k, v in _published_like(rref).items() if "num_batches" not in k}
    torch.save({"network": rstate}, tmp_path / "root.pth.tar")
    root = build_rootnet(50)
    load_weights(root, tmp_path / "root.pth.tar")
    torch.testing.assert_close(root.root.depth_layer.weight, rstate["root.depth_layer.weight"])


def test_wrong_joint_count_and_backbone_are_clear(tmp_path):
    ref = _ref_keys("posenet_r50_keys.json", "joint_num_18_H36M")
    path = tmp_path / "snapshot_24.pth.tar"
    torch.save({"network": _published_like(ref)}, path)
    with pytest.raises(CheckpointError, match=r"snapshot_24\.pth\.tar.*head\.final_layer\.weight: "
                                              r"\[1344, 256, 1, 1\] vs \[1152, 256, 1, 1\].*1152 channels"):
        load_weights(build_posenet(50, 21), path)
    with pytest.raises(CheckpointError, match=r"snapshot_24\.pth\.tar.*missing from the checkpoint"):
        load_weights(build_posenet(101, 18), path)
    with pytest.raises(CheckpointError, match="does not exist"):
        load_weights(build_posenet(18, 18), tmp_path / "nope.pth.tar")
    (tmp_path / "bad.pth.tar").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="bad.pth.tar is not a PyTorch checkpoint"):
        load_weights(build_posenet(18, 18), tmp_path / "bad.pth.tar")


def test_snapshot_round_trip_and_latest(tmp_path):
    torch.manual_seed(0)
    model = build_posenet(18, 4, 4)
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    model(torch.randn(2, 3, 64, 64)).sum().backward()
    opt.step()
    for epoch in (0, 2, 10):
        save_snapshot(snapshot_path(tmp_path, epoch),
                      {"epoch": epoch, "network": model.state_dict(), "optimizer": opt.state_dict()})
    assert [e for e, _ in list_snapshots(tmp_path)] == [0, 2, 10]
    assert latest_snapshot(tmp_path).name == "snapshot_10.pth.tar"
    other = build_posenet(18, 4, 4)
    ckpt = load_weights(other, latest_snapshot(tmp_path))
    for a, b in zip(model.state_dict().values(), other.state_dict().values()):
        torch.testing.assert_close(a, b)
    opt2 = torch.optim.Adam(other.parameters(), 1e-3)
    opt2.load_state_dict(ckpt["optimizer"])
    assert opt2.state_dict()["state"][0]["step"] == opt.state_dict()["state"][0]["step"]
    assert not list(tmp_path.glob("*.tmp"))


def test_failed_save_keeps_previous_snapshot(tmp_path):
    path = snapshot_path(tmp_path, 3)
    save_snapshot(path, {"epoch": 3, "network": {"w": torch.ones(2)}})
    before = path.read_bytes()

    class Boom:
        def __reduce__(self):
            raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        save_snapshot(path, {"epoch": 4, "network": {"w": Boom()}})
    assert path.read_bytes() == before
    assert not list(tmp_path.glob("*.tmp")) and not list(tmp_path.glob(".*tmp"))


def test_unreadable_checkpoints_say_what_the_file_is_and_never_advise_unpickling(tmp_path):
    import argparse

    from posenet3d.checkpoint import CheckpointError, load_file
    torch.save({"w": torch.ones(2), "args": argparse.Namespace(lr=1)}, tmp_path / "objects.pth")
    torch.save({"w": torch.ones(1000)}, tmp_path / "full.pth")
    data = (tmp_path / "full.pth").read_bytes()
    (tmp_path / "truncated.pth").write_bytes(data[: len(data) // 2])
    (tmp_path / "hello.pth").write_text("hello")
    (tmp_path / "empty.pth").write_bytes(b"")
    expected = {"objects.pth": "Python objects other than tensors and plain containers (such as argparse.Namespace)",
                "truncated.pth": "truncated or corrupt zip archive", "hello.pth": "not a PyTorch checkpoint",
                "empty.pth": "is empty (0 bytes)"}
    for name, words in expected.items():
        with pytest.raises(CheckpointError) as info:
            load_file(tmp_path / name)
        msg = str(info.value)
        assert words in msg and str(tmp_path / name) in msg and "weights_only" not in msg
        assert "\n" not in msg
