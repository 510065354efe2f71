"""CenterNet network, loss and decode (posenet3d.detection.model)."""
from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from posenet3d.detection.decode import (
    ctdet_decode,
    heatmap_peaks,
    multi_pose_decode,
    to_probabilities,
)
from posenet3d.detection.loss import CenterNetLoss, focal_loss, gather_at, reg_l1_loss
from posenet3d.detection.model import (
    COCO_FLIP_PAIRS,
    CenterNet,
    ModulatedDeformConv2d,
    ctdet_heads,
    fill_up_weights,
    multi_pose_heads,
)

FIXTURES = Path(__file__).parent / "fixtures"


# ------------------------------------------------------------------------------------------- deformable conv --

def _dcn(in_ch=4, out_ch=5, seed=0) -> ModulatedDeformConv2d:
    torch.manual_seed(seed)
    m = ModulatedDeformConv2d(in_ch, out_ch, 3, stride=1, padding=1)
    torch.nn.init.normal_(m.bias)
    return m


def test_deform_conv_equals_plain_conv_with_zero_offsets_and_unit_mask():
    m = _dcn()
    with torch.no_grad():
        m.conv_offset_mask.bias[18:] = 40.0  # sigmoid(40) == 1.0 in float32; offsets stay 0
    x = torch.randn(2, 4, 9, 7)
    torch.testing.assert_close(m(x), F.conv2d(x, m.weight, m.bias, padding=1), atol=1e-5, rtol=1e-5)


def test_fresh_deform_conv_is_half_a_plain_conv():
    # the offset/mask conv is zero-initialised: offsets 0, mask sigmoid(0) = 0.5
    m = _dcn()
    x = torch.randn(1, 4, 6, 6)
    expected = 0.5 * F.conv2d(x, m.weight, None, padding=1) + m.bias.view(1, -1, 1, 1)
    torch.testing.assert_close(m(x), expected, atol=1e-5, rtol=1e-5)


def test_deform_conv_offset_channels_are_interleaved_dy_dx():
    # offset channel 2k is dy and 2k+1 is dx of tap k. dx = +1 everywhere: tap j of output column c samples
    # column c + j (instead of c - 1 + j), i.e. a plain conv over x padded 0 left / 2 right, 1 top / 1 bottom.
    m = _dcn()
    with torch.no_grad():
        m.conv_offset_mask.bias[1:18:2] = 1.0
        m.conv_offset_mask.bias[18:] = 40.0
    x = torch.randn(1, 4, 6, 8)
    expected = F.conv2d(F.pad(x, (0, 2, 1, 1)), m.weight, m.bias)
    torch.testing.assert_close(m(x), expected, atol=1e-5, rtol=1e-5)
    # dy = +1 instead: the same with rows
    with torch.no_grad():
        m.conv_offset_mask.bias[:18] = 0.0
        m.conv_offset_mask.bias[0:18:2] = 1.0
    torch.testing.assert_close(m(x), F.conv2d(F.pad(x, (1, 1, 0, 2)), m.weight, m.bias), atol=1e-5, rtol=1e-5)


def test_bilinear_up_init_profile():
    up = torch.nn.ConvTranspose2d(3, 3, 4, stride=2, padding=1, bias=False)
    fill_up_weights(up)
    profile = torch.tensor([0.25, 0.75, 0.75, 0.25])
    for c in range(3):
        torch.testing.assert_close(up.weight[c, 0], torch.outer(profile, profile))


# ----------------------------------------------------------------------------------------------- structure --

@pytest.mark.parametrize("arch,fixture", [("res_18", "centernet_res18_keys.json"),
                                          ("resdcn_18", "centernet_resdcn18_keys.json")])
def test_state_dict_matches_published_keys(arch, fixture):
    expected = json.loads((FIXTURES / fixture).read_text())
    model = CenterNet(arch, ctdet_heads(80), head_conv=64)
    got = [(k, list(v.shape)) for k, v in model.state_dict().items()]
    assert [k for k, _ in got] == list(expected)  # name for name, in order
    for k, shape in got:
        assert shape == expected[k], k


def test_param_counts_match_reference():
    assert sum(p.numel() for p in CenterNet("res_18", ctdet_heads(80)).parameters()) == 15_820_372
    assert sum(p.numel() for p in CenterNet("resdcn_18", ctdet_heads(80)).parameters()) == 14_437_349


def test_multi_pose_heads_and_output_shapes():
    model = CenterNet("resdcn_18", multi_pose_heads(), head_conv=16, width=0.25).eval()
    with torch.no_grad():
        out = model(torch.randn(1, 3, 64, 96))
    assert list(out) == ["hm", "wh", "hps", "reg", "hm_hp", "hp_offset"]
    sizes = {"hm": 1, "wh": 2, "hps": 34, "reg": 2, "hm_hp": 17, "hp_offset": 2}
    for name, c in sizes.items():
        assert out[name].shape == (1, c, 16, 24), name
    assert torch.allclose(model.hm[-1].bias, torch.tensor(-2.19))
    # res_* registers heads in sorted order (as the reference)
    assert list(CenterNet("res_18", multi_pose_heads(), width=0.25).heads) == sorted(sizes)


def test_select_classes_keeps_the_rows():
    model = CenterNet("res_18", ctdet_heads(5), head_conv=8, width=0.25)
    w = model.hm[2].weight.detach().clone()
    b = model.hm[2].bias.detach().clone()
    model.select_classes([3])
    assert model.num_classes == 1
    torch.testing.assert_close(model.hm[2].weight, w[3:4])
    torch.testing.assert_close(model.hm[2].bias, b[3:4])
    with pytest.raises(ValueError, match="out of range"):
        model.select_classes([1])


def test_bad_arch_and_input():
    with pytest.raises(ValueError, match="unknown CenterNet arch"):
        CenterNet("dla_34")
    with pytest.raises(ValueError, match="expects a"):
        CenterNet("res_18", width=0.25)(torch.randn(1, 1, 32, 32))


# -------------------------------------------------------------------------------------------------- losses --

def test_focal_loss_known_points():
    ln2 = math.log(2.0)
    logits = torch.zeros(1, 1, 1, 2)  # p = 0.5 at both pixels
    gt = torch.tensor([[[[1.0, 0.0]]]])
    # positive: -(1-p)^2 log p = 0.25 ln2; negative: -(1-0)^4 p^2 log(1-p) = 0.25 ln2; N_pos = 1
    torch.testing.assert_close(focal_loss(logits, gt), torch.tensor(0.5 * ln2))
    # a near-centre negative (gt 0.5) is down-weighted by (1-0.5)^4 = 1/16
    gt2 = torch.tensor([[[[1.0, 0.5]]]])
    torch.testing.assert_close(focal_loss(logits, gt2), torch.tensor(0.25 * ln2 + 0.25 * ln2 / 16))
    # no positives: the negative sum is not normalised (2 negatives → 0.5 ln2)
    torch.testing.assert_close(focal_loss(logits, torch.zeros(1, 1, 1, 2)), torch.tensor(0.5 * ln2))
    # saturated logits stay finite thanks to the clamp: -(1-1e-4)^2 * log(1e-4)
    big = focal_loss(torch.full((1, 1, 1, 1), 100.0), torch.zeros(1, 1, 1, 1))
    torch.testing.assert_close(big, torch.tensor(-(1 - 1e-4) ** 2 * math.log(1e-4)), rtol=1e-4, atol=0)  # float32


def test_reg_l1_loss_gathers_at_indices():
    out = torch.zeros(1, 2, 3, 4)
    out[0, :, 1, 2] = torch.tensor([5.0, 7.0])  # index 1*4+2 = 6
    ind = torch.tensor([[6, 0]])
    target = torch.tensor([[[4.0, 9.0], [100.0, 100.0]]])
    assert gather_at(out, ind).shape == (1, 2, 2)
    # only the first object is active: (|5-4| + |7-9|) / (2 + 1e-4)
    loss = reg_l1_loss(out, torch.tensor([[1, 0]]), ind, target)
    torch.testing.assert_close(loss, torch.tensor(3.0 / (2 + 1e-4)))


def test_loss_module_weights_terms():
    torch.manual_seed(0)
    outputs = {"hm": torch.randn(1, 1, 4, 4), "wh": torch.randn(1, 2, 4, 4), "reg": torch.randn(1, 2, 4, 4)}
    hm = torch.zeros(1, 1, 4, 4)
    hm[0, 0, 1, 1] = 1
    batch = {"hm": hm, "ind": torch.tensor([[5]]), "reg_mask": torch.tensor([[1]]),
             "wh": torch.tensor([[[2.0, 3.0]]]), "reg": torch.tensor([[[0.5, 0.25]]])}
    total, stats = CenterNetLoss()(outputs, batch)
    assert math.isclose(float(total), stats["hm_loss"] + 0.1 * stats["wh_loss"] + stats["reg_loss"], rel_tol=1e-5)


# -------------------------------------------------------------------------------------------------- decode --

def test_peaks_and_ctdet_decode():
    hm = torch.zeros(1, 2, 8, 8)
    hm[0, 0, 2, 3] = 0.9
    hm[0, 0, 2, 4] = 0.5  # suppressed neighbour
    hm[0, 1, 6, 1] = 0.7
    assert heatmap_peaks(hm)[0, 0, 2, 4] == 0
    wh = torch.zeros(1, 2, 8, 8)
    wh[0, :, 2, 3] = torch.tensor([4.0, 2.0])
    reg = torch.zeros(1, 2, 8, 8)
    reg[0, :, 2, 3] = torch.tensor([0.5, 0.25])
    dets = ctdet_decode(hm, wh, reg, k=5)
    assert dets.shape == (1, 5, 6)
    torch.testing.assert_close(dets[0, 0], torch.tensor([1.5, 1.25, 5.5, 3.25, 0.9, 0.0]))
    assert dets[0, 1, 4] == pytest.approx(0.7) and dets[0, 1, 5] == 1
    # a negative predicted size (seen from a real snapshot: w = -2 px) gives a degenerate box, never x2 < x1
    wh[0, :, 6, 1] = torch.tensor([-2.0, 3.0])
    box = ctdet_decode(hm, wh, reg, k=5)[0, 1, :4]
    assert box[2] == box[0] and box[3] - box[1] == pytest.approx(3.0)


def test_multi_pose_decode_snaps_to_joint_peaks():
    h = w = 16
    hm = torch.zeros(1, 1, h, w)
    hm[0, 0, 8, 8] = 0.9
    wh = torch.zeros(1, 2, h, w)
    wh[0, :, 8, 8] = torch.tensor([10.0, 12.0])  # box x 3..13, y 2..14
    hps = torch.zeros(1, 4, h, w)  # two joints
    hps[0, :, 8, 8] = torch.tensor([-2.6, -3.3, 20.0, 0.0])  # joint 0 near (5.4, 4.7); joint 1 far right
    hm_hp = torch.zeros(1, 2, h, w)
    hm_hp[0, 0, 5, 5] = 0.8  # peak near the regressed joint 0, inside the box
    hm_hp[0, 1, 8, 12] = 0.8  # inside the box but 16 px away from regressed joint 1 (> 0.3*12)
    hp_offset = torch.zeros(1, 2, h, w)
    hp_offset[0, :, 5, 5] = torch.tensor([0.25, 0.5])
    dets = multi_pose_decode(hm, wh, hps, None, hm_hp, hp_offset, k=3)
    assert dets.shape == (1, 3, 5 + 4 + 1)
    top = dets[0, 0]
    torch.testing.assert_close(top[5:7], torch.tensor([5.25, 5.5]))  # snapped
    torch.testing.assert_close(top[7:9], torch.tensor([28.0, 8.0]))  # kept the regression


def test_flip_merge_of_a_mirrored_batch_is_the_original():
    torch.manual_seed(0)
    a = {"hm": torch.randn(1, 1, 5, 6), "wh": torch.rand(1, 2, 5, 6), "reg": torch.rand(1, 2, 5, 6),
         "hps": torch.randn(1, 34, 5, 6), "hm_hp": torch.randn(1, 17, 5, 6), "hp_offset": torch.rand(1, 2, 5, 6)}
    order = list(range(17))
    for i, j in COCO_FLIP_PAIRS:
        order[i], order[j] = order[j], order[i]
    mirrored = {k: torch.flip(v, dims=[3]) for k, v in a.items()}
    mirrored["hm_hp"] = mirrored["hm_hp"][:, order]
    hps = mirrored["hps"].reshape(1, 17, 2, 5, 6)[:, order]
    hps[:, :, 0] *= -1
    mirrored["hps"] = hps.reshape(1, 34, 5, 6)
    mirrored["reg"] = torch.zeros_like(mirrored["reg"])  # must be ignored
    merged = to_probabilities({k: torch.cat([a[k], mirrored[k]]) for k in a}, flip_test=True)
    plain = to_probabilities(a)
    for k in a:
        torch.testing.assert_close(merged[k], plain[k], msg=k)
