"""The task table: what the engine needs from each network (PoseNet, RootNet, CenterNet).

Each task knows how to build its network from a config, its training set, its loss on a batch, and how to
test it (inference on the config's test set → the dataset's evaluation → result files). The engine knows
nothing about networks; the networks know nothing about files.
"""
from __future__ import annotations

import logging
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from . import metrics
from .config import Config, ConfigError
from .datasets.registry import build_dataset
from .datasets.topdown import TopDownCodec
from .datasets.torch_dataset import MixedDataset, PoseDataset, RootDataset
from .evaluation.report import write_predictions_h5, write_result_json
from .geometry import k_value
from .nets.backbone import ResNetBackbone
from .nets.posenet import PoseNet, flip_merge, marginal_loss, posenet_loss
from .skeletons import HUMAN36M_EVAL_JOINTS, get_joint_set, map_joints

log = logging.getLogger("posenet3d")


def _backbone(cfg: Config, for_training: bool) -> ResNetBackbone:
    m = cfg.model
    backbone = ResNetBackbone(m.backbone_depth, m.backbone_width)
    if for_training and m.pretrained.lower() not in ("none", ""):
        if m.pretrained.lower() == "imagenet" and m.backbone_width != 1.0:
            raise ConfigError(f"model.pretrained: imagenet needs model.backbone_width 1.0 (got {m.backbone_width}); "
                              "use model.pretrained=none or a snapshot of a network of this width")
        backbone.load_imagenet(None if m.pretrained.lower() == "imagenet" else m.pretrained)
    return backbone


def _adapter(cfg: Config, name: str, split: str, **options):
    root = cfg.data.roots.get(name)
    if name == "Human36M":
        options.setdefault("protocol", cfg.data.h36m_protocol)
    return build_dataset(name, split, root=root, **options)


def _test_adapter(cfg: Config, **box_options):
    """The test set with the boxes the config asks for, and (when those are not GT) the GT adapter too."""
    gt = _adapter(cfg, cfg.data.testset, "test", use_gt_info=True)
    if cfg.test.use_gt_info or not any(box_options.values()):
        return gt, gt
    return _adapter(cfg, cfg.data.testset, "test", use_gt_info=False, **box_options), gt


def _loader(dataset, cfg: Config) -> DataLoader:
    return DataLoader(dataset, batch_size=cfg.test.batch_size, shuffle=False, num_workers=cfg.data.num_workers)


def _result_dir(cfg: Config) -> Path:
    return Path(cfg.output_dir) / "result"


class PoseNetTask:
    name = "posenet"
    image_key = "img"  # the batch entry the engine copies in channels_last when train.channels_last

    def codec(self, cfg: Config) -> TopDownCodec:
        return TopDownCodec.from_config(cfg.model)

    def build_model(self, cfg: Config, for_training: bool = True) -> nn.Module:
        js = get_joint_set(cfg.model.joint_set)
        return PoseNet(_backbone(cfg, for_training), js.joint_num, cfg.model.depth_dim, cfg.model.head_channels)

    def train_dataset(self, cfg: Config):
        codec, js = self.codec(cfg), get_joint_set(cfg.model.joint_set)
        groups = []
        for names in (cfg.data.trainset_3d, cfg.data.trainset_2d):
            groups.append([PoseDataset(_adapter(cfg, n, "train").records, js, codec, train=True,
                                       seed=cfg.train.seed) for n in names])
        return MixedDataset(groups, seed=cfg.train.seed)

    def loss(self, net: nn.Module, batch: dict, cfg: Config):
        """(total loss, {term: tensor}) on a batch the engine has moved to the device."""
        img, target, vis, has_depth = batch["img"], batch["joints_hm"], batch["vis"], batch["has_depth"]
        w_aux = cfg.train.aux_heatmap_weight
        if w_aux > 0:
            coord, marginals = net(img, return_marginals=True)
        else:
            coord, marginals = net(img), None
        l1 = posenet_loss(coord, target, vis, has_depth).mean()
        if marginals is None:
            return l1, {"l1": l1}
        aux = marginal_loss(marginals, target, vis, has_depth).mean()
        return l1 + w_aux * aux, {"l1": l1, "aux": aux}

    @torch.no_grad()
    def predict(self, model: nn.Module, img: torch.Tensor, flip: bool, flip_pairs, width_hm: int) -> torch.Tensor:
        """(B, J, 3) heatmap-unit coordinates; with ``flip`` the mirrored crops run in the same batch."""
        if not flip:
            return model(img)
        out = model(torch.cat([img, img.flip(3)]))
        b = img.shape[0]
        return flip_merge(out[:b], out[b:], flip_pairs, width_hm)

    def test(self, cfg: Config, model: nn.Module, device: torch.device, tag: str) -> dict:
        codec, js = self.codec(cfg), get_joint_set(cfg.model.joint_set)
        adapter, gt_adapter = _test_adapter(cfg, bbox_root_file=cfg.data.bbox_root_file or None)
        records = adapter.records
        dataset = PoseDataset(records, js, codec, train=False)
        coords = []
        for batch in _loader(dataset, cfg):
            coords.append(self.predict(model, batch["img"].to(device), cfg.test.flip_test, js.flip_pairs,
                                       codec.output_shape[1]).cpu())
        coord_hm = torch.cat(coords).numpy() if coords else np.zeros((0, js.joint_num, 3))
        bbox = np.array([r.bbox for r in records]).reshape(-1, 4)
        z_root = np.array([float(r.root_cam[2]) if r.root_cam is not None else np.nan for r in records])
        focal = np.array([r.focal for r in records]).reshape(-1, 2)
        princpt = np.array([r.princpt for r in records]).reshape(-1, 2)
        dec = codec.decode_pose(coord_hm, bbox, z_root, focal, princpt)
        test_js = adapter.joint_set
        pred_img, _ = map_joints(js, test_js, dec.joints_img)
        pred_cam, _ = map_joints(js, test_js, dec.joints_cam_mm)
        out_dir = _result_dir(cfg)
        results: dict = {"testset": cfg.data.testset, "weights": tag, "num_people": len(records),
                         "flip_test": cfg.test.flip_test, "boxes": "ground truth" if adapter is gt_adapter
                         else "detections"}
        if adapter is gt_adapter and len(records):
            gt_cam = np.array([r.joints_cam for r in records])
            results["per_person"] = self._per_person(cfg, pred_cam, gt_cam, test_js)
        if cfg.data.testset == "MuPoTS":
            results["mupots"] = self._mupots(cfg, records, gt_adapter.records, pred_img, pred_cam, out_dir)
        if cfg.data.testset == "Human36M" and adapter is gt_adapter:
            from .evaluation.human36m import evaluate_human36m
            gt_cam = np.array([r.joints_cam for r in records])
            action = np.array([r.extra["action_idx"] for r in records])
            results["human36m"] = evaluate_human36m(pred_cam, gt_cam, action, HUMAN36M_EVAL_JOINTS,
                                                    test_js.root_idx, cfg.data.h36m_protocol)
        write_predictions_h5(out_dir / f"{cfg.name}_{tag}_preds.h5", {
            "img_id": np.array([r.img_id for r in records], dtype=np.int64), "bbox": bbox,
            "joints_img": pred_img, "joints_cam_mm": pred_cam, "coord_hm": coord_hm},
            {"joint_names": ",".join(test_js.joints_name), "units": "joints_img px (u, v, Z mm); joints_cam mm"})
        results["result_file"] = str(write_result_json(results, f"{cfg.name}_{tag}", out_dir))
        return results

    @staticmethod
    def _per_person(cfg: Config, pred_cam: np.ndarray, gt_cam: np.ndarray, test_js) -> dict:
        """Root-relative metrics per GT person (mm): MPJPE, PA-MPJPE (similarity and rigid), 3DPCK@150, AUC."""
        if test_js.name == "MuPoTS":
            from .evaluation.mupots import MUPOTS_PCK_JOINTS
            eval_joints, pck_joints = list(range(17)), list(MUPOTS_PCK_JOINTS)
        elif test_js.name == "Human36M":
            eval_joints = pck_joints = list(HUMAN36M_EVAL_JOINTS)
        else:
            eval_joints = pck_joints = list(range(test_js.joint_num))
        r = test_js.root_idx
        rel_p = pred_cam - pred_cam[:, r:r + 1]
        rel_g = gt_cam - gt_cam[:, r:r + 1]
        err = metrics.joint_errors(rel_p, rel_g)[:, eval_joints]
        pa = metrics.joint_errors(rel_p, rel_g, alignment="procrustes")[:, eval_joints]
        rigid = metrics.joint_errors(rel_p, rel_g, alignment="rigid")[:, eval_joints]
        sel = [eval_joints.index(j) for j in pck_joints]
        at_root = np.linalg.norm(rel_g, axis=-1)[:, eval_joints]  # the trivial baseline: every joint at the root
        return {"mpjpe_mm": float(err.mean()), "baseline_all_joints_at_root_mm": float(at_root.mean()), "pa_mpjpe_similarity_mm": float(pa.mean()),
                "pa_mpjpe_rigid_mm": float(rigid.mean()), "pck3d_150mm": metrics.pck3d(err[:, sel]),
                "auc_0_150mm": metrics.auc3d(err[:, sel]), "num_joints": len(eval_joints)}

    @staticmethod
    def _mupots(cfg, records, gt_records, pred_img, pred_cam, out_dir: Path) -> dict:
        from .evaluation.mupots import evaluate_mupots, write_mupots_mat
        preds = defaultdict(lambda: ([], []))
        for rec, p2, p3 in zip(records, pred_img, pred_cam):
            key = (int(rec.extra["seq"]), int(rec.extra["frame"]))
            preds[key][0].append(p2[:, :2])
            preds[key][1].append(p3)
        gts = defaultdict(lambda: ([], []))
        for rec in gt_records:
            key = (int(rec.extra["seq"]), int(rec.extra["frame"]))
            gts[key][0].append(np.asarray(rec.joints_img)[:, :2])
            gts[key][1].append(np.asarray(rec.joints_cam))
        preds_np = {k: (np.array(a), np.array(b)) for k, (a, b) in preds.items()}
        gts_np = {k: {"joints_2d": np.array(a), "joints_3d_cam_mm": np.array(b)} for k, (a, b) in gts.items()}
        frames = sorted(set(gts_np) | set(preds_np))
        write_mupots_mat(out_dir / cfg.name, preds_np, frames=frames)
        return evaluate_mupots(preds_np, gts_np)


class RootNetTask:
    name = "rootnet"
    image_key = "img"

    def codec(self, cfg: Config) -> TopDownCodec:
        return TopDownCodec.from_config(cfg.model)

    def build_model(self, cfg: Config, for_training: bool = True) -> nn.Module:
        from rootnet import RootNet
        return RootNet(_backbone(cfg, for_training), cfg.model.head_channels)

    def train_dataset(self, cfg: Config):
        codec = self.codec(cfg)
        depth = {}
        if cfg.data.max_root_depth_mm > 0:
            depth = {"min_depth": cfg.data.min_root_depth_mm, "max_depth": cfg.data.max_root_depth_mm}
        groups = []
        for names in (cfg.data.trainset_3d, cfg.data.trainset_2d):
            groups.append([RootDataset(_adapter(cfg, n, "train", **(depth if n == "MuCo" else {})).records,
                                       codec, train=True, seed=cfg.train.seed) for n in names])
        return MixedDataset(groups, seed=cfg.train.seed)

    def loss(self, net: nn.Module, batch: dict, cfg: Config):
        """(total loss, {}) on a batch the engine has moved to the device."""
        from rootnet import rootnet_loss
        out = net(batch["img"], batch["k_value"])
        loss = rootnet_loss(out, batch["root"], batch["root_vis"], batch["has_depth"]).mean()
        return loss, {}

    def test(self, cfg: Config, model: nn.Module, device: torch.device, tag: str) -> dict:
        from .evaluation.rootnet import evaluate_roots, write_bbox_root_json
        codec = self.codec(cfg)
        adapter, gt_adapter = _test_adapter(cfg, bbox_file=cfg.data.bbox_file or None)
        records = adapter.records
        outs = []
        with torch.no_grad():
            for batch in _loader(RootDataset(records, codec, train=False), cfg):
                outs.append(model(batch["img"].to(device), batch["k_value"].to(device)).cpu())
        out = torch.cat(outs).numpy() if outs else np.zeros((0, 3))
        bbox = np.array([r.bbox for r in records]).reshape(-1, 4)
        dec = codec.decode_root(out, bbox, np.array([r.focal for r in records]).reshape(-1, 2),
                                np.array([r.princpt for r in records]).reshape(-1, 2))
        root_cam = dec.joints_cam_mm
        out_dir = _result_dir(cfg)
        entries = [{"image_id": int(r.img_id), "bbox": [float(v) for v in r.bbox],
                    "root_cam": [float(v) for v in rc], "score": float(r.score)} for r, rc in zip(records, root_cam)]
        box_file = write_bbox_root_json(out_dir / f"bbox_root_{cfg.data.testset.lower()}_output.json", entries)
        results: dict = {"testset": cfg.data.testset, "weights": tag, "num_people": len(records),
                         "boxes": "ground truth" if adapter is gt_adapter else "detections",
                         "bbox_root_file": str(box_file)}
        gt_roots = defaultdict(list)
        for r in gt_adapter.records:
            gt_roots[int(r.img_id)].append(np.asarray(r.root_cam, dtype=np.float64))
        gt_by_image = {k: np.array(v) for k, v in gt_roots.items()}
        kwargs = {"records": entries, "gt_roots_by_image": gt_by_image}
        if adapter is gt_adapter and len(records):
            gt = np.array([r.root_cam for r in records], dtype=np.float64)
            kwargs.update(pred_root_cam_mm=root_cam, gt_root_cam_mm=gt)
            # the baseline without RootNet's correction: gamma = 1, i.e. Z = k, at the predicted 2D root
            k = k_value(bbox, np.array([r.focal for r in records]), codec.area_real_mm)
            base = codec.decode_root(np.concatenate([out[:, :2], k[:, None]], axis=1), bbox,
                                     np.array([r.focal for r in records]), np.array([r.princpt for r in records]))
            results["baseline_gamma_1"] = metrics.mrpe(base.joints_cam_mm, gt)
            results["within_250mm_percent"] = metrics.within_threshold(root_cam, gt)
            if all(r.joints_cam is not None for r in records):
                joints = np.array([r.joints_cam for r in records], dtype=np.float64)
                bound = metrics.size_blind_roots(gt, joints, get_joint_set(records[0].joint_set).skeleton)
                results["size_blind_oracle"] = {**metrics.mrpe(bound, gt),
                                                "within_250mm_percent": metrics.within_threshold(bound, gt)}
        if cfg.data.testset == "Human36M" and adapter is gt_adapter:
            from .evaluation.human36m import ACTION_NAMES
            kwargs.update(groups=np.array([r.extra["action_idx"] for r in records]), group_names=ACTION_NAMES)
        results.update(evaluate_roots(**kwargs))
        results["result_file"] = str(write_result_json(results, f"{cfg.name}_{tag}", out_dir))
        return results


TASKS = {"posenet": PoseNetTask, "rootnet": RootNetTask}


def get_task(name: str):
    if name == "centernet" and "centernet" not in TASKS:
        from .detection.task import CenterNetTask
        TASKS["centernet"] = CenterNetTask
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r}; choose one of {sorted(TASKS) + ['centernet']}")
    return TASKS[name]()
