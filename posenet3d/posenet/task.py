"""PoseNet as an engine task: its network, training set (top-down crops of 3D and 2D data), loss, and test
(decode to image px and camera mm → per-person metrics and the test set's own evaluation)."""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from posenet3d import metrics, task_base
from posenet3d.config import Config
from posenet3d.datasets.topdown import TopDownCodec
from posenet3d.datasets.torch_dataset import MixedDataset, PoseDataset
from posenet3d.evaluation.report import write_predictions_h5, write_result_json
from posenet3d.skeletons import get_joint_set, map_joints

from .model import PoseNet, marginal_loss, posenet_loss, predict


class PoseNetTask:
    """PoseNet's training and testing for the engine (:class:`posenet3d.task_base.Task`)."""

    name = "posenet"
    image_key = "img"  # the batch entry the engine copies in channels_last when train.channels_last
    main_metric = ("mpjpe_mm", "min")  # root-relative MPJPE of the ground-truth people

    def codec(self, cfg: Config) -> TopDownCodec:
        return TopDownCodec.from_config(cfg.model)

    def build_model(self, cfg: Config, for_training: bool = True) -> nn.Module:
        js = get_joint_set(cfg.model.joint_set)
        return PoseNet(task_base.backbone_from_config(cfg, for_training), js.joint_num, cfg.model.depth_dim,
                       cfg.model.head_channels)

    def train_dataset(self, cfg: Config):
        codec, js = self.codec(cfg), get_joint_set(cfg.model.joint_set)
        groups = []
        for names in (cfg.data.trainset_3d, cfg.data.trainset_2d):
            groups.append([PoseDataset(task_base.dataset_adapter(cfg, n, "train").records, js, codec, train=True,
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

    def test(self, cfg: Config, model: nn.Module, device: torch.device, tag: str) -> dict:
        codec, js = self.codec(cfg), get_joint_set(cfg.model.joint_set)
        adapter, gt_adapter = task_base.test_adapters(cfg, bbox_root_file=cfg.data.bbox_root_file or None)
        records = adapter.records
        dataset = PoseDataset(records, js, codec, train=False)
        coords, crops = [], []
        for batch in task_base.test_loader(dataset, cfg):
            coords.append(predict(model, batch["img"].to(device), js.flip_pairs if cfg.test.flip_test else None,
                                  codec.output_shape[1]).cpu())
            crops.append(batch)
        coord_hm = torch.cat(coords).numpy() if coords else np.zeros((0, js.joint_num, 3))
        bbox = np.array([r.bbox for r in records]).reshape(-1, 4)
        z_root = np.array([float(r.root_cam[2]) if r.root_cam is not None else np.nan for r in records])
        focal = np.array([r.focal for r in records]).reshape(-1, 2)
        princpt = np.array([r.princpt for r in records]).reshape(-1, 2)
        dec = codec.decode_pose(coord_hm, task_base.crop_records(records, crops), z_root, focal, princpt)
        test_js = adapter.joint_set
        pred_img, _ = map_joints(js, test_js, dec.joints_img)
        pred_cam, _ = map_joints(js, test_js, dec.joints_cam_mm)
        out_dir = task_base.result_dir(cfg)
        results: dict = {"testset": cfg.data.testset, "weights": tag,
                         **task_base.part_of_test_set(cfg), "num_people": len(records),
                         "flip_test": cfg.test.flip_test, "boxes": "ground truth" if adapter is gt_adapter
                         else "detections"}
        evaluator = task_base.test_evaluator(cfg, gt_adapter)
        if adapter is gt_adapter and len(records):
            gt_cam = np.array([r.joints_cam for r in records])
            results["per_person"] = per_person_metrics(pred_cam, gt_cam, test_js.root_idx,
                                                       *evaluator.joint_subsets(test_js))
        results.update(evaluator.pose_results(cfg.name, records, gt_adapter.records, pred_img, pred_cam, out_dir,
                                              gt_boxes=adapter is gt_adapter))
        write_predictions_h5(out_dir / f"{cfg.name}_{tag}_preds.h5", {
            "img_id": np.array([r.img_id for r in records], dtype=np.int64), "bbox": bbox,
            "joints_img": pred_img, "joints_cam_mm": pred_cam, "coord_hm": coord_hm},
            {"joint_names": ",".join(test_js.joints_name), "units": "joints_img px (u, v, Z mm); joints_cam mm"})
        results["result_file"] = str(write_result_json(results, f"{cfg.name}_{tag}", out_dir))
        return results

    def figures(self, cfg: Config, results: dict) -> dict[str, float]:
        """MPJPE, PA-MPJPE (similarity), 3DPCK@150 mm (percent) of the ground-truth people, and the test set's own
        headline figures (MuPoTS-3D 3DPCK, Human3.6M's protocol metric)."""
        pp = results.get("per_person") or {}
        out = {k: float(pp[k]) for k in ("mpjpe_mm", "pa_mpjpe_similarity_mm") if k in pp}
        if "pck3d_150mm" in pp:
            out["pck3d_150mm_percent"] = float(pp["pck3d_150mm"])
        return {**out, **task_base.test_evaluator(cfg, None).headline_figures(results)}


def per_person_metrics(pred_cam_mm: np.ndarray, gt_cam_mm: np.ndarray, root_idx: int, eval_joints: list[int],
                       pck_joints: list[int]) -> dict:
    """Root-relative metrics per ground-truth person (mm): MPJPE, PA-MPJPE (similarity and rigid), 3DPCK@150 mm
    and AUC over ``pck_joints`` (a subset of ``eval_joints``), and the all-joints-at-the-root baseline."""
    rel_p = pred_cam_mm - pred_cam_mm[:, root_idx:root_idx + 1]
    rel_g = gt_cam_mm - gt_cam_mm[:, root_idx:root_idx + 1]
    err = metrics.joint_errors(rel_p, rel_g)[:, eval_joints]
    pa = metrics.joint_errors(rel_p, rel_g, alignment="procrustes")[:, eval_joints]
    rigid = metrics.joint_errors(rel_p, rel_g, alignment="rigid")[:, eval_joints]
    sel = [eval_joints.index(j) for j in pck_joints]
    at_root = np.linalg.norm(rel_g, axis=-1)[:, eval_joints]  # the trivial baseline: every joint at the root
    return {"mpjpe_mm": float(err.mean()), "baseline_all_joints_at_root_mm": float(at_root.mean()),
            "pa_mpjpe_similarity_mm": float(pa.mean()), "pa_mpjpe_rigid_mm": float(rigid.mean()),
            "pck3d_150mm": metrics.pck3d(err[:, sel]), "auc_0_150mm": metrics.auc3d(err[:, sel]),
            "num_joints": len(eval_joints)}
