"""RootNet as an engine task: its network, training set (top-down crops with k and the root target), loss, and
test (decode to camera mm → MRPE / AP_root, the k-only baseline and the size-blind bound; bbox_root file)."""
from __future__ import annotations

from collections import defaultdict

import numpy as np
import torch
from torch import nn

from posenet3d import metrics, task_base
from posenet3d.config import Config
from posenet3d.datasets.topdown import TopDownCodec
from posenet3d.datasets.torch_dataset import MixedDataset, RootDataset
from posenet3d.evaluation.report import write_result_json
from posenet3d.evaluation.rootnet import evaluate_roots, write_bbox_root_json
from posenet3d.geometry import k_value
from posenet3d.skeletons import get_joint_set

from .model import RootNet, rootnet_loss


class RootNetTask:
    """RootNet's training and testing for the engine (:class:`posenet3d.task_base.Task`)."""

    name = "rootnet"
    image_key = "img"
    main_metric = ("mrpe_mm", "min")  # mean root position error of the ground-truth people

    def codec(self, cfg: Config) -> TopDownCodec:
        return TopDownCodec.from_config(cfg.model)

    def build_model(self, cfg: Config, for_training: bool = True) -> nn.Module:
        return RootNet(task_base.backbone_from_config(cfg, for_training), cfg.model.head_channels)

    def train_dataset(self, cfg: Config):
        codec = self.codec(cfg)
        depth = {}
        if cfg.data.max_root_depth_mm > 0:
            depth = {"min_depth": cfg.data.min_root_depth_mm, "max_depth": cfg.data.max_root_depth_mm}
        groups = []
        for names in (cfg.data.trainset_3d, cfg.data.trainset_2d):
            adapters = [task_base.dataset_adapter(cfg, n, "train", **(depth if n == "MuCo" else {})) for n in names]
            groups.append([RootDataset(a.records, codec, train=True, seed=cfg.train.seed) for a in adapters])
        return MixedDataset(groups, seed=cfg.train.seed)

    def loss(self, net: nn.Module, batch: dict, cfg: Config):
        """(total loss, {}) on a batch the engine has moved to the device."""
        out = net(batch["img"], batch["k_value"])
        loss = rootnet_loss(out, batch["root"], batch["root_vis"], batch["has_depth"]).mean()
        return loss, {}

    def test(self, cfg: Config, model: nn.Module, device: torch.device, tag: str) -> dict:
        codec = self.codec(cfg)
        adapter, gt_adapter = task_base.test_adapters(cfg, bbox_file=cfg.data.bbox_file or None)
        records = adapter.records
        outs, crops = [], []
        with torch.no_grad():
            for batch in task_base.test_loader(RootDataset(records, codec, train=False), cfg):
                outs.append(model(batch["img"].to(device), batch["k_value"].to(device)).cpu())
                crops.append(batch)
        out = torch.cat(outs).numpy() if outs else np.zeros((0, 3))
        bbox = np.array([r.bbox for r in records]).reshape(-1, 4)
        dec = codec.decode_root(out, task_base.crop_records(records, crops),
                                np.array([r.focal for r in records]).reshape(-1, 2),
                                np.array([r.princpt for r in records]).reshape(-1, 2))
        root_cam = dec.joints_cam_mm
        out_dir = task_base.result_dir(cfg)
        entries = [{"image_id": int(r.img_id), "bbox": [float(v) for v in r.bbox],
                    "root_cam": [float(v) for v in rc], "score": float(r.score)} for r, rc in zip(records, root_cam)]
        box_file = write_bbox_root_json(out_dir / f"bbox_root_{cfg.data.testset.lower()}_output.json", entries)
        results: dict = {"testset": cfg.data.testset, "weights": tag,
                         **task_base.part_of_test_set(cfg), "num_people": len(records),
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
        groups = task_base.test_evaluator(cfg, gt_adapter).root_groups(records) if adapter is gt_adapter else None
        if groups is not None:
            kwargs.update(groups=groups[0], group_names=groups[1])
        results.update(evaluate_roots(**kwargs))
        results["result_file"] = str(write_result_json(results, f"{cfg.name}_{tag}", out_dir))
        return results

    def figures(self, cfg: Config, results: dict) -> dict[str, float]:
        """MRPE (mm) and the share of roots within 25 cm (ground-truth people); AP_root (percent)."""
        out = {}
        if "mrpe" in results:
            out["mrpe_mm"] = float(results["mrpe"]["mrpe"])
        if "within_250mm_percent" in results:
            out["within_250mm_percent"] = float(results["within_250mm_percent"])
        if "ap_root" in results:
            out["ap_root_percent"] = float(results["ap_root"]["ap"])
        return out
