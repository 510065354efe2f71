"""The CUDA/NCCL paths, checked on the CPU: collectives on the run's device, AMP dtype choice, torchrun's --gpu,
errors from spawned workers."""
import pytest
import torch

from posenet3d import distributed
from posenet3d.distributed import (
    DistContext,
    GpuSpecError,
    all_reduce_sum,
    any_process,
    broadcast_int,
    from_environment,
)
from posenet3d.engine import amp_settings, move_batch, restore_scaler


class _NcclLikeSpy:
    """Stands in for torch.distributed: like NCCL, it rejects tensors that are not on the run's device."""

    def __init__(self, device):
        self.device, self.calls = device, []
        self.ReduceOp = torch.distributed.ReduceOp

    def _check(self, name, tensor):
        if tensor.device != self.device:
            raise RuntimeError(f"No backend type associated with device type {tensor.device.type}")
        self.calls.append(name)

    def all_reduce(self, tensor, op=None):
        self._check("all_reduce", tensor)

    def broadcast(self, tensor, src=0):
        self._check("broadcast", tensor)


def test_collectives_put_cpu_values_on_the_run_device(monkeypatch):
    # meta stands in for cuda:N: a device other than the CPU, where the epoch's CPU numbers must be moved to
    ctx = DistContext(rank=0, world_size=2, device=torch.device("meta"))
    spy = _NcclLikeSpy(ctx.device)
    monkeypatch.setattr(distributed, "dist", spy)
    with pytest.raises(RuntimeError, match="device type cpu"):  # NCCL refuses CPU tensors, hence the move
        spy.all_reduce(torch.tensor(1.0))
    assert all_reduce_sum(torch.tensor([1.0, 2.0]), ctx).device == ctx.device
    assert all_reduce_sum(torch.tensor(3, dtype=torch.int64), ctx).dtype == torch.int64  # counts stay integers
    with pytest.raises(RuntimeError, match="meta"):  # meta holds no values: the call reached the spy, on meta
        any_process(True, ctx)
    with pytest.raises(RuntimeError, match="meta"):
        broadcast_int(5, ctx)
    assert spy.calls == ["all_reduce", "all_reduce", "all_reduce", "broadcast"]


def test_engine_calls_collectives_only_through_the_device_helpers():
    from pathlib import Path

    from posenet3d import engine
    source = Path(engine.__file__).read_text()
    assert "dist." not in source and "torch.distributed" not in source


def test_amp_dtype_follows_native_bf16_not_emulation(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)  # says yes on a V100 too
    dev = torch.device("cuda", 0)
    for capability, dtype in (((7, 0), torch.float16), ((7, 5), torch.float16), ((8, 0), torch.bfloat16),
                              ((9, 0), torch.bfloat16)):
        monkeypatch.setattr(torch.cuda, "get_device_capability", lambda d=None, c=capability: c)
        assert amp_settings(dev, True) == (True, dtype)
    assert amp_settings(dev, False) == (False, None)
    assert amp_settings(torch.device("cpu"), True) == (False, None)


def test_resume_across_precisions_starts_a_fresh_scaler():
    fp16 = torch.amp.GradScaler("cpu", enabled=True, init_scale=2.0 ** 10)
    off = torch.amp.GradScaler("cpu", enabled=False)
    with pytest.raises(RuntimeError):  # a bf16/CPU snapshot's empty state cannot be loaded as it is
        fp16.load_state_dict(off.state_dict())
    assert restore_scaler(fp16, off.state_dict()) is False
    assert fp16.get_scale() == 2.0 ** 10
    other = torch.amp.GradScaler("cpu", enabled=True, init_scale=8.0)
    assert restore_scaler(fp16, other.state_dict()) is True and fp16.get_scale() == 8.0
    assert restore_scaler(off, other.state_dict()) is False  # fp16 snapshot into a bf16 run: nothing to load


def test_move_batch_copies_images_channels_last_in_one_step():
    batch = {"img": torch.randn(2, 3, 8, 8), "vis": torch.ones(2, 4), "name": "x"}
    out = move_batch(batch, torch.device("cpu"), "img", channels_last=True)
    assert out["img"].is_contiguous(memory_format=torch.channels_last)
    assert torch.equal(out["img"], batch["img"]) and out["name"] == "x"
    assert move_batch(batch, torch.device("cpu"), "img", False)["img"].is_contiguous()


def test_torchrun_uses_the_listed_gpus_and_the_cpu_without_gpu(monkeypatch):
    chosen = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "set_device", lambda d: chosen.append(d))
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "1")  # one process: no group to join
    monkeypatch.setenv("LOCAL_RANK", "1")
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")
    ctx = from_environment([2, 3])
    assert ctx.device == torch.device("cuda", 3) and chosen == [torch.device("cuda", 3)]
    assert from_environment([]).device == torch.device("cpu")  # no --gpu: the CPU, as the README says
    with pytest.raises(GpuSpecError, match="torchrun started 2 process"):
        from_environment([0, 1, 2])
    monkeypatch.delenv("RANK")
    assert from_environment([0]) is None  # not under torchrun


def test_errors_in_spawned_workers_arrive_as_themselves(tiny_world, tmp_path, tiny_config):
    from posenet3d.datasets.base import DatasetError
    from posenet3d.engine import train
    cfg = tiny_config(tiny_world, tmp_path, "posenet", f"data.roots={{MuCo: {tmp_path / 'nowhere'}}}")
    with pytest.raises(DatasetError, match="nowhere"):
        train(cfg, cpu_processes=2)
