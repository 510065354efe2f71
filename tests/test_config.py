import pytest

from posenet3d.config import ConfigError, dump_config, load_config


def test_defaults_yaml_inheritance_and_overrides(tmp_path):
    (tmp_path / "base.yaml").write_text("model:\n  backbone_depth: 18\ntrain:\n  lr: 0.01\n")
    (tmp_path / "child.yaml").write_text("_base_: base.yaml\ntrain:\n  end_epoch: 3\n")
    cfg = load_config(tmp_path / "child.yaml", ["train.lr=1e-4", "data.trainset_3d=[Synthetic]",
                                                "model.area_real_mm=[2, 2]"])
    assert cfg.model.backbone_depth == 18 and cfg.train.end_epoch == 3
    assert cfg.train.lr == 1e-4 and cfg.data.trainset_3d == ["Synthetic"]
    assert cfg.model.area_real_mm == (2.0, 2.0)
    assert cfg.train.lr_dec_epoch == [17, 21]  # untouched default
    out = tmp_path / "run" / "config.yaml"
    dump_config(cfg, out)
    again = load_config(out)
    assert again == cfg


def test_unknown_key_and_bad_type_are_named(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("train:\n  lrr: 0.1\n")
    with pytest.raises(ConfigError, match=r"c\.yaml.*unknown config key 'train\.lrr'"):
        load_config(p)
    with pytest.raises(ConfigError, match=r"bad value for 'train\.batch_size'"):
        load_config(None, ["train.batch_size=abc"])
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "missing.yaml")
    with pytest.raises(ConfigError, match="not of the form"):
        load_config(None, ["train.lr"])
    (tmp_path / "bad.yaml").write_text("model: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(tmp_path / "bad.yaml")


def test_every_shipped_config_loads():
    """Each experiment under cfg/ parses with known keys and valid types (inheritance included)."""
    from pathlib import Path

    cfg_dir = Path(__file__).resolve().parents[1] / "cfg"
    files = sorted(cfg_dir.glob("*.yaml"))
    assert len(files) >= 10
    for path in files:
        cfg = load_config(path)
        assert cfg.name == path.stem, path


@pytest.mark.parametrize("override, key", [("train.lr=-1", "train.lr"), ("model.task=foo", "model.task"),
                                           ("model.backbone_depth=19", "model.backbone_depth"),
                                           ("model.input_size=100", "model.input_size"),
                                           ("model.joint_set=Body25", "model.joint_set"),
                                           ("train.batch_size=0", "train.batch_size")])
def test_out_of_range_values_are_one_line_naming_the_key(override, key):
    with pytest.raises(ConfigError, match=f"{key}=.* is not valid: it must be"):
        load_config(None, [override])


def test_train_cli_reports_bad_values_and_a_folder_as_config_with_exit_2(capsys):
    from posenet3d.commands.train import main
    assert main(["--cfg", "cfg/synthetic_posenet_quick.yaml", "train.lr=-1"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "train.lr=-1.0 is not valid" in err
    assert main(["--cfg", "cfg"]) == 2
    assert "is a folder; give a YAML file in it, e.g." in capsys.readouterr().err


def test_video_sections_take_partial_overrides_and_check_their_values(tmp_path):
    cfg = load_config(None, ["tracker.max_age=10", "smoothing.root_depth.min_cutoff_hz=0.5"])
    assert cfg.tracker.max_age == 10 and cfg.tracker.min_hits == 3  # the rest keeps its defaults
    assert cfg.smoothing.root_depth.min_cutoff_hz == 0.5 and cfg.smoothing.root_depth.beta_per_mm == 0.003
    dump_config(cfg, tmp_path / "c.yaml")
    again = load_config(tmp_path / "c.yaml")
    assert again.tracker == cfg.tracker and again.smoothing == cfg.smoothing
    with pytest.raises(ConfigError, match="tracker: .*max_age"):
        load_config(None, ["tracker.max_age=-1"])
    k = load_config(None, ["smoothing.root_depth_filter=one_euro", "smoothing.root_depth_kalman.accel_sd_mm_s2=500"])
    assert k.smoothing.root_depth_filter == "one_euro" and k.smoothing.root_depth_kalman.accel_sd_mm_s2 == 500.0
    assert k.smoothing.root_depth_kalman.measurement_sd_mm == 100.0
    with pytest.raises(ConfigError, match="smoothing: root_depth_filter must be one of"):
        load_config(None, ["smoothing.root_depth_filter=median"])
    with pytest.raises(ConfigError, match="smoothing.root_depth_kalman: Kalman needs"):
        load_config(None, ["smoothing.root_depth_kalman.accel_sd_mm_s2=0"])
