import pytest
import torch

from posenet3d.nets.backbone import RESNET_SPECS, ResNetBackbone
from posenet3d.nets.heads import soft_argmax_2d, soft_argmax_3d
from posenet3d.posenet.model import build_posenet, flip_merge, posenet_loss
from posenet3d.skeletons import MUCO
from rootnet import build_rootnet, rootnet_loss


@pytest.mark.parametrize("depth", sorted(RESNET_SPECS))
def test_every_backbone_posenet_and_rootnet_shapes(depth):
    torch.manual_seed(0)
    x = torch.randn(2, 3, 64, 64)
    pose = build_posenet(depth, joint_num=5, depth_dim=8).eval()
    out = pose(x)
    assert out.shape == (2, 5, 3)
    assert pose.heatmaps(x).shape == (2, 5 * 8, 16, 16)
    assert pose.backbone(x).shape[1] == (512 if depth < 50 else 2048)
    root = build_rootnet(depth).eval()
    r = root(x, torch.tensor([3000.0, 5000.0]))
    assert r.shape == (2, 3)
    assert torch.isfinite(r).all()


def test_narrow_backbone():
    b = ResNetBackbone(18, width=0.5)
    assert b.out_channels == 256
    assert build_posenet(18, 3, 4, width=0.5)(torch.randn(1, 3, 64, 64)).shape == (1, 3, 3)


def test_bad_input_shape_is_clear():
    with pytest.raises(ValueError, match="expects a \\(B, 3, H, W\\)"):
        build_posenet(18, 3, 4)(torch.randn(3, 64, 64))
    with pytest.raises(ValueError, match="unsupported ResNet depth 20"):
        ResNetBackbone(20)
    with pytest.raises(ValueError, match="one k value per image"):
        build_rootnet(18)(torch.randn(2, 3, 64, 64), torch.ones(3))


def test_soft_argmax_3d_sharp_peak_and_gradient():
    j, d, h, w = 3, 8, 16, 12
    hm = torch.full((1, j * d, h, w), -1e4)
    peaks = [(2, 5, 7), (0, 0, 0), (11, 15, 7)]  # (x, y, z)
    for k, (x, y, z) in enumerate(peaks):
        hm[0, k * d + z, y, x] = 1e4
    out = soft_argmax_3d(hm, j, d)
    assert torch.equal(out[0], torch.tensor(peaks, dtype=torch.float32))
    hm2 = torch.randn(2, j * d, h, w, requires_grad=True)
    soft_argmax_3d(hm2, j, d).sum().backward()
    assert hm2.grad is not None and hm2.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="heatmap channels"):
        soft_argmax_3d(hm2, j, d + 1)


def test_soft_argmax_2d_sharp_peak_and_mirror():
    hm = torch.full((1, 1, 10, 10), -1e4)
    hm[0, 0, 3, 7] = 1e4
    assert torch.equal(soft_argmax_2d(hm)[0, 0], torch.tensor([7.0, 3.0]))
    g = torch.randn(1, 2, 9, 11)
    a = soft_argmax_2d(g)
    b = soft_argmax_2d(g.flip(3))
    torch.testing.assert_close(b[..., 0], 11 - 1 - a[..., 0])
    torch.testing.assert_close(b[..., 1], a[..., 1])


def test_flip_merge_is_mirror_consistent():
    torch.manual_seed(0)
    model = build_posenet(18, MUCO.joint_num, 4).eval()
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        p, pf = model(x), model(x.flip(3))
    w = 16
    merged = flip_merge(p, pf, MUCO.flip_pairs, w)
    merged_mirror = flip_merge(pf, p, MUCO.flip_pairs, w)
    # mirroring the input mirrors the flip-tested prediction: x -> W-1-x with left/right swapped
    expect = merged.clone()
    expect[..., 0] = w - 1 - expect[..., 0]
    expect = expect[:, torch.from_numpy(MUCO.flip_permutation())]
    torch.testing.assert_close(merged_mirror, expect)
    # a prediction that is already mirror-symmetric is unchanged
    sym = torch.rand(1, MUCO.joint_num, 3)
    mirrored = sym.clone()
    mirrored[..., 0] = w - 1 - mirrored[..., 0]
    mirrored = mirrored[:, torch.from_numpy(MUCO.flip_permutation())]
    torch.testing.assert_close(flip_merge(sym, mirrored, MUCO.flip_pairs, w), sym)


def test_rootnet_depth_scales_linearly_with_k():
    torch.manual_seed(0)
    model = build_rootnet(18).eval()
    x = torch.randn(1, 3, 64, 64).repeat(3, 1, 1, 1)
    k = torch.tensor([1000.0, 2000.0, 5000.0])
    with torch.no_grad():
        out = model(x, k)
    gamma = out[0, 2] / 1000.0
    torch.testing.assert_close(out[:, 2], gamma * k)
    torch.testing.assert_close(out[:, :2], out[:1, :2].expand(3, 2))


def test_losses_mask_visibility_and_depth():
    pred = torch.zeros(2, 2, 3)
    tgt = torch.tensor([[[3.0, 3.0, 3.0], [1.0, 1.0, 1.0]]] * 2)
    vis = torch.tensor([[1.0, 0.0], [1.0, 1.0]])
    has_depth = torch.tensor([0.0, 1.0])
    loss = posenet_loss(pred, tgt, vis, has_depth)
    torch.testing.assert_close(loss, torch.tensor([[2.0, 0.0], [3.0, 1.0]]))
    r = rootnet_loss(torch.zeros(2, 3), torch.tensor([[3.0, 3.0, 300.0]] * 2), torch.tensor([1.0, 1.0]),
                     torch.tensor([1.0, 0.0]))
    torch.testing.assert_close(r, torch.tensor([102.0, 2.0]))


def test_autocast_cpu_keeps_soft_argmax_fp32():
    model = build_posenet(18, 3, 4).eval()
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(torch.randn(1, 3, 64, 64))
    assert out.dtype == torch.float32 and torch.isfinite(out).all()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_autocast_fp16():
    dev = torch.device("cuda")
    model = build_posenet(18, 3, 4).to(dev).eval()
    root = build_rootnet(18).to(dev).eval()
    x = torch.randn(2, 3, 64, 64, device=dev)
    with torch.no_grad(), torch.autocast("cuda", dtype=torch.float16):
        out = model(x)
        r = root(x, torch.tensor([2000.0, 3000.0], device=dev))
    assert out.dtype == torch.float32 and torch.isfinite(out).all()
    assert r.dtype == torch.float32 and torch.isfinite(r).all()


def test_input_normalisation_matches_reference_convention():
    import numpy as np

    from posenet3d.preprocess import normalize_patch
    patch = np.full((2, 2, 3), 255.0, dtype=np.float32)
    t = normalize_patch(patch)
    # (255 - 0.485) / 0.229 for R: the 0..255 scale minus the ImageNet mean as it is, not ×255
    assert abs(float(t[0, 0, 0]) - (255 - 0.485) / 0.229) < 1e-3
    assert t.shape == (3, 2, 2) and t.is_contiguous()
    batch = normalize_patch(np.stack([patch, patch * 0]), channels_last=True)
    assert batch.shape == (2, 3, 2, 2) and batch.is_contiguous(memory_format=torch.channels_last)
    assert torch.equal(batch[0], t)


def test_backbone_initialised_from_own_snapshot(tmp_path):
    """A synthetic-world PoseNet snapshot (``backbone.*`` under ``network``) initialises a CenterNet trunk of the
    same depth and width; a trunk of another width is refused with the file named; a missing file is an error."""
    from posenet3d.checkpoint import CheckpointError
    from posenet3d.detection.model import CenterNet

    pose = build_posenet(18, MUCO.joint_num, depth_dim=8, width=0.25, head_channels=16)
    snap = tmp_path / "snapshot_3.pth.tar"
    torch.save({"epoch": 3, "network": {f"module.{k}": v for k, v in pose.state_dict().items()}}, snap)
    det = CenterNet("res_18", head_conv=8, width=0.25, imagenet=str(snap))
    for name, value in pose.backbone.state_dict().items():
        assert torch.equal(det.state_dict()[name], value), name
    with pytest.raises(CheckpointError, match=r"snapshot_3.pth.tar.*width 0.5"):
        ResNetBackbone(18, 0.5).load_imagenet(snap)
    with pytest.raises(CheckpointError, match="nothere.pth"):
        ResNetBackbone(18, 0.25).load_imagenet(tmp_path / "nothere.pth")


def test_imagenet_on_a_narrow_trunk_is_a_config_error():
    from posenet3d.config import ConfigError, load_config
    from posenet3d.tasks import get_task

    cfg = load_config(None, ["model.backbone_depth=18", "model.backbone_width=0.5", "model.pretrained=imagenet"])
    with pytest.raises(ConfigError, match="backbone_width 1.0"):
        get_task("posenet").build_model(cfg, for_training=True)


def test_rootnet_depth_stays_fp32_under_autocast():
    from rootnet.model import RootHead
    torch.manual_seed(0)
    head = RootHead(32, 16).eval()
    with torch.no_grad():
        head.depth_layer.weight.normal_(0, 0.05)
        feat = torch.randn(256, 32, 2, 2) * 0.1 + 1.0  # 256 people, slightly different features
        k = torch.full((256,), 4000.0)  # all at about 4 m
        with torch.autocast("cpu", dtype=torch.bfloat16):
            z = head(feat, k)[:, 2]
        ref = (head.depth_layer(feat.mean(dim=(2, 3), keepdim=True)).flatten() * 4000.0)
    assert z.dtype == torch.float32
    assert float((z - ref).abs().max()) < 0.01  # mm; a bf16 γ is off by up to ~8 mm at 4 m
    assert len(torch.unique(z)) > 200  # not quantised into a few depth steps


def test_joint_confidence_is_the_mass_near_the_soft_argmax():
    from posenet3d.nets.heads import soft_argmax_3d
    j, d, h, w = 2, 8, 16, 16
    logits = torch.full((1, j * d, h, w), -30.0)
    logits[0, 0 * d + 3, 5, 7] = 30.0  # joint 0: all mass in one voxel
    logits[0, 1 * d:2 * d] = 0.0  # joint 1: uniform
    coords, conf = soft_argmax_3d(logits, j, d, return_confidence=True)
    assert torch.equal(coords, soft_argmax_3d(logits, j, d))  # the coordinates do not change
    assert float(conf[0, 0]) == pytest.approx(1.0, abs=1e-6)
    # uniform: the expectation sits at the centre (7.5, 7.5, 3.5); ±2 cells holds 4 of 16 columns and rows and
    # 4 of 8 bins
    assert float(conf[0, 1]) == pytest.approx((4 / 16) * (4 / 16) * (4 / 8), abs=1e-6)
    two_modes = torch.full((1, d, h, w), -30.0)
    two_modes[0, 3, 2, 2] = two_modes[0, 3, 13, 13] = 30.0  # expectation between the modes: no confidence
    assert float(soft_argmax_3d(two_modes, 1, d, return_confidence=True)[1][0, 0]) < 1e-6


def test_flip_test_confidence_swaps_left_and_right():
    from posenet3d.posenet.model import predict
    torch.manual_seed(0)
    model = build_posenet(18, 4, 8, width=0.25, head_channels=16).eval()
    img = torch.randn(2, 3, 64, 64)
    coords, conf = predict(model, img, ((0, 1),), return_confidence=True)
    assert torch.equal(coords, predict(model, img, ((0, 1),)))
    _, c_plain = model(img, return_confidence=True)
    _, c_mirror = model(img.flip(3), return_confidence=True)
    assert torch.allclose(conf, (c_plain + c_mirror[:, [1, 0, 2, 3]]) / 2)
    assert ((conf >= 0) & (conf <= 1)).all()
