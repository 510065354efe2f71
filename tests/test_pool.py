import numpy as np

from posenet3d.datasets.pool import build_pool
from posenet3d.datasets.registry import build_dataset
from posenet3d.datasets.topdown import TopDownCodec
from posenet3d.datasets.torch_dataset import read_image_bgr
from posenet3d.skeletons import MUCO


def test_pool_reproduces_targets_and_k(tiny_world, tmp_path):
    src = build_dataset("MuCo", "train", root=tiny_world / "train").records
    n = build_pool(tiny_world / "train", tmp_path / "pool", size=104, margin=1.6)
    pool = build_dataset("MuCo", "train", root=tmp_path / "pool").records
    assert n == len(src) == len(pool)
    codec = TopDownCodec(input_shape=(64, 64), depth_dim=16)
    for a, b in zip(src, pool):
        # same processed box in its own image: same heatmap targets, same k, same root depth
        ta = codec.encode_pose_record(read_image_bgr(a.img_path), a, MUCO)
        tb = codec.encode_pose_record(read_image_bgr(b.img_path), b, MUCO)
        np.testing.assert_allclose(tb.joints_hm, ta.joints_hm, atol=1e-3)
        np.testing.assert_array_equal(tb.vis, ta.vis)
        ra = codec.encode_root_record(read_image_bgr(a.img_path), a)
        rb = codec.encode_root_record(read_image_bgr(b.img_path), b)
        np.testing.assert_allclose(rb.k_value, ra.k_value, rtol=1e-6)
        np.testing.assert_allclose(rb.root, ra.root, atol=1e-3)
        # the patches look alike (the pool resampled once more)
        diff = np.abs(tb.img.numpy() - ta.img.numpy()).mean() / np.abs(ta.img.numpy()).mean()
        assert diff < 0.15


def test_pool_command(tiny_world, tmp_path, capsys):
    """``posenet3d pool`` builds the pool; a missing source is one line and exit code 2."""
    from posenet3d import cli
    assert cli.main(["pool", "--src", str(tiny_world / "train"), "--dst", str(tmp_path / "pool"), "--size", "64"]) == 0
    assert "wrote a pool of" in capsys.readouterr().out
    assert (tmp_path / "pool" / "data" / "MuCo-3DHP.json").is_file()
    assert cli.main(["pool", "--src", str(tmp_path / "nothing"), "--dst", str(tmp_path / "p2")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("posenet3d pool: error:") and len(err.strip().splitlines()) == 1
