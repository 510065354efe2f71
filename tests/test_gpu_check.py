"""``posenet3d gpu-check``: the checks on CUDA where a GPU is visible, the checker itself on the CPU."""
import pytest
import torch

from posenet3d import cli
from posenet3d.commands import gpu_check

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device visible: the GPU checks "
                                "need one (run `posenet3d gpu-check` on a machine with GPUs)")


@pytest.mark.cuda
@needs_cuda
def test_gpu_check_passes_on_every_visible_gpu(tmp_path):
    lines = []
    checks = gpu_check.run_checks(list(range(torch.cuda.device_count())), tmp_path, report=lines.append)
    assert all(c.ok for c in checks), "\n".join(lines)


def test_the_checker_runs_its_checks_on_the_cpu(tmp_path):
    lines = []
    checks = gpu_check.run_checks([], tmp_path, cpu_processes=1, report=lines.append)
    assert [c.name for c in checks] == ["synthetic world", "train posenet", "train rootnet", "train centernet",
                                        "interrupt and resume", "estimator vs CPU"]
    assert all(c.ok for c in checks), "\n".join(lines)
    assert all(line.startswith(("PASS", "torch")) for line in lines)


def test_gpu_check_without_a_gpu_is_one_clear_line(capsys, monkeypatch):
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)
    assert gpu_check.main([]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "no CUDA device" in err and "--cpu" in err


def test_console_command_lists_commands_and_rejects_unknown_ones(capsys):
    assert cli.main(["--help"]) == 0
    out = capsys.readouterr().out
    assert all(c in out for c in ("train", "test", "gpu-check"))
    assert cli.main(["trian"]) == 2
    assert "unknown command 'trian'" in capsys.readouterr().err


@pytest.mark.parametrize("command", list(cli.COMMANDS))
def test_every_command_help_ends_with_examples(command, capsys):
    with pytest.raises(SystemExit) as info:
        cli.main([*command.split(), "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    tail = out[out.index("examples:"):].splitlines()[1:]
    assert tail and all(line.strip().startswith(("posenet3d", "python", "torchrun", "#", "--")) or
                        line.startswith("      ") for line in tail), tail
