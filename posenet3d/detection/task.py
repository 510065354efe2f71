"""The CenterNet person detector as an engine task: model, training set, loss and test (COCO person AP)."""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from posenet3d import task_base
from posenet3d.config import Config
from posenet3d.datasets.base import DatasetError
from posenet3d.detection.loss import CenterNetLoss
from posenet3d.detection.model import CenterNet, ctdet_heads, multi_pose_heads
from posenet3d.evaluation.detection import evaluate_person_ap, write_detection_json
from posenet3d.evaluation.report import write_result_json
from posenet3d.media import MediaError, read_image

from .pipeline import CocoPersonDataset, detect_people, read_coco_person_json


class CenterNetTask:
    """CenterNet's training and testing for the engine (:class:`posenet3d.task_base.Task`); tested by COCO person
    AP on the config's COCO-format test json."""
    name = "centernet"
    image_key = "input"
    main_metric = ("ap", "max")  # COCO person box AP (IoU 0.50:0.95), a fraction

    def build_model(self, cfg: Config, for_training: bool = True) -> nn.Module:
        m = cfg.model
        heads = ctdet_heads(m.num_classes) if m.centernet_task == "ctdet" else multi_pose_heads()
        source = m.pretrained.lower()
        imagenet: bool | str = False
        if for_training and source not in ("none", ""):
            # ImageNet only exists for full width; a file (torchvision state_dict or one of our snapshots) may
            # hold a trunk of any width.
            imagenet = True if source == "imagenet" else m.pretrained
            if imagenet is True and m.backbone_width != 1.0:
                imagenet = False
        return CenterNet(m.arch, heads, m.head_conv, width=m.backbone_width, imagenet=imagenet)

    def train_dataset(self, cfg: Config):
        return CocoPersonDataset(cfg.data.det_train_ann, cfg.data.det_train_images, task=cfg.model.centernet_task,
                                 train=True, input_size=cfg.model.input_size, seed=cfg.train.seed)

    def loss(self, net: nn.Module, batch: dict, cfg: Config):
        """(total loss, {term: tensor}) on a batch the engine has moved to the device."""
        outputs = {k: v.float() for k, v in net(batch["input"]).items()}
        total, stats = CenterNetLoss(wh_weight=cfg.train.det_size_weight)(outputs, batch)
        return total, {k: v for k, v in stats.items() if k != "loss"}

    def test(self, cfg: Config, model: nn.Module, device: torch.device, tag: str) -> dict:
        entries = read_coco_person_json(cfg.data.det_test_ann, cfg.data.det_test_images)
        if 0 < cfg.test.max_samples < len(entries):
            entries = entries[:cfg.test.max_samples]
            image_ids = [int(e.img_id) for e in entries]
        else:
            image_ids = None
        records, unreadable = [], []
        bs = max(1, cfg.test.batch_size)
        for start in range(0, len(entries), bs):
            chunk, images = [], []
            for e in entries[start:start + bs]:
                try:
                    img = read_image(e.path)
                except MediaError:
                    unreadable.append(str(e.path))
                    continue
                chunk.append(e)
                images.append(img)
            if not images:
                continue
            dets = detect_people(model, images, input_size=cfg.model.input_size, flip_test=cfg.test.flip_test)
            for e, d in zip(chunk, dets):
                for box, score in zip(d.boxes_xywh(), d.scores):
                    records.append({"image_id": int(e.img_id), "category_id": 1,
                                    "bbox": [float(v) for v in box], "score": float(score)})
        if unreadable and len(unreadable) == len(entries):
            raise DatasetError(f"{cfg.data.det_test_ann}: none of the {len(entries)} test images could be read "
                               f"(first: {unreadable[0]})")
        out_dir = Path(cfg.output_dir) / "result"
        det_file = write_detection_json(out_dir / f"bbox_{cfg.name}_output.json", records)
        ap = evaluate_person_ap(cfg.data.det_test_ann, records, image_ids=image_ids)
        results = {"testset": cfg.data.det_test_ann, "weights": tag,
                   **task_base.part_of_test_set(cfg), "num_images": len(entries),
                   "unreadable_images": unreadable, "num_detections": len(records), "person_ap": ap,
                   "detection_file": str(det_file)}
        results["result_file"] = str(write_result_json(results, f"{cfg.name}_{tag}", out_dir))
        return results

    def figures(self, cfg: Config, results: dict) -> dict[str, float]:
        """COCO person box AP, AP50, AP75 (fractions)."""
        ap = results["person_ap"]
        return {"ap": float(ap["AP"]), "ap50": float(ap["AP50"]), "ap75": float(ap["AP75"])}


__all__ = ["CenterNetTask"]
