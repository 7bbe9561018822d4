"""Pose estimation by heatmaps: Gaussian targets with per-joint weights, MSE summed over hourglass
stacks (Newell et al. 2016, sec. 3.4), argmax decoding with a quarter-pixel shift, optional flip
test, PCK@0.2 (bbox), PCKh@0.5 where head sizes are known, mean joint error in px, and on COCO data
COCO's OKS AP on the ground-truth person boxes."""

from __future__ import annotations

from typing import Any

import pytorch_lightning as pl
import torch
from pytorch_lightning.utilities import rank_zero_warn
from torchmetrics import MetricCollection

from .base import ZooTask
from .data.common import input_to_image
from .decoding import decode_pose
from .heatmaps import decode_heatmaps, encode_heatmaps, flip_test, heatmap_loss, last_output
from .metrics import PCK, CocoKeypointAP, MeanJointError

SPLITS = ("val", "test")


class PoseTask(ZooTask):
    """Any zoo model with a heatmap head (stride 4).

    Args:
        num_joints / joint_names / flip_pairs / skeleton: from the data module when None.
        sigma: the Gaussian's std in heatmap pixels.
        use_flip_test: in validation and test, average with the flipped image's heatmaps.
        **kwargs: the model and the optimisation, see `ZooTask`.

    Targets are dicts with ``keypoints`` (B, K, 2) in input pixels and ``visibility`` (B, K), and
    optionally ``head_size`` (B,) for PCKh. On a COCO source they also hold each person's ``image_id``
    and crop ``box``, and validation logs COCO's OKS AP, AP50 and AP75 on the ground-truth person boxes
    (``val/oks_ap_gtbox``, ``val/oks_ap50_gtbox``, ``val/oks_ap75_gtbox``; `metrics.CocoKeypointAP`).
    """

    task = "pose"
    monitor = "val/pck"
    data_fields = ("num_joints", "joint_names", "flip_pairs", "skeleton")

    def __init__(
        self,
        *,
        num_joints: int | None = None,
        joint_names: list[str] | None = None,
        flip_pairs: list[tuple[int, int]] | None = None,
        skeleton: list[tuple[int, int]] | None = None,
        sigma: float = 2.0,
        use_flip_test: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.coco_ap: dict[str, CocoKeypointAP] = {}  # set up in configure_from_data, for COCO data

    @property
    def num_joints(self) -> int | None:
        return self.hparams.get("num_joints")

    @property
    def flip_pairs(self) -> list[tuple[int, int]] | None:
        """(left, right) joint pairs; None when neither config nor data gave them (no flip test then)."""
        return self.hparams.get("flip_pairs")

    @property
    def skeleton(self) -> list[tuple[int, int]]:
        """Joint pairs joined by a limb in the W&B pictures."""
        return self.hparams.get("skeleton") or []

    def configure_losses(self) -> None:
        self.criterion = heatmap_loss

    def configure_metrics(self) -> None:
        metrics = MetricCollection({"pck": PCK(0.2, "bbox"), "joint_error_px": MeanJointError()})
        self.val_metrics, self.test_metrics = metrics.clone(prefix="val/"), metrics.clone(prefix="test/")
        self.val_pckh, self.test_pckh = PCK(0.5, "head"), PCK(0.5, "head")

    def configure_from_data(self, datamodule: pl.LightningDataModule) -> None:
        super().configure_from_data(datamodule)
        self._configure_coco_ap(datamodule)

    def _configure_coco_ap(self, datamodule: pl.LightningDataModule) -> None:
        """COCO's keypoint AP for the validation and test splits, when the data holds COCO annotations."""
        ground_truth = getattr(datamodule, "coco_ground_truth", lambda: None)()
        self.coco_ap = {}
        if ground_truth is None:
            return
        try:
            for split in SPLITS:
                self.coco_ap[split] = CocoKeypointAP(ground_truth, getattr(datamodule, "oks_sigmas", None))
        except ValueError as error:
            rank_zero_warn(f"No COCO keypoint AP, PCK only: {error} (--data.init_args.oks_sigmas [...])")
            self.coco_ap = {}

    def compute_loss(self, output: Any, target: dict[str, torch.Tensor], images: torch.Tensor) -> torch.Tensor:
        heatmaps, weights = encode_heatmaps(
            target["keypoints"],
            target["visibility"],
            tuple(images.shape[-2:]),
            tuple(last_output(output).shape[-2:]),
            self.hparams.sigma,
        )
        return self.criterion(output, heatmaps, weights)

    def predicted_heatmaps(self, images: torch.Tensor, output: Any | None = None) -> torch.Tensor:
        """The heatmaps the task decodes: the last stack's, averaged with the flipped image's if set."""
        if self.hparams.use_flip_test and self.flip_pairs is not None:
            return flip_test(self, images, self.flip_pairs)
        return last_output(self(images) if output is None else output)

    def predict_keypoints(self, images: torch.Tensor, output: Any | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Keypoints (B, K, 2) in input pixels and their heatmap maxima, with the flip test if set."""
        return decode_heatmaps(self.predicted_heatmaps(images, output), tuple(images.shape[-2:]))

    def update_metrics(self, output: Any, target: dict[str, torch.Tensor], images: torch.Tensor, split: str) -> None:
        keypoints, maxvals = self.predict_keypoints(images, output)
        if split in self.coco_ap and "image_id" in target:
            in_image = input_to_image(keypoints, target["box"], tuple(images.shape[-2:]))
            self.coco_ap[split].to(keypoints.device).update(in_image, maxvals.mean(1), target["image_id"])
        metrics = self.val_metrics if split == "val" else self.test_metrics
        metrics.update(keypoints, target["keypoints"], target["visibility"])
        self.log_dict(metrics, batch_size=len(images))
        if "head_size" in target:
            pckh = self.val_pckh if split == "val" else self.test_pckh
            pckh.update(keypoints, target["keypoints"], target["visibility"], target["head_size"])
            self.log(f"{split}/pckh", pckh, batch_size=len(images))

    def _log_coco_ap(self, split: str) -> None:
        if split in self.coco_ap:
            values = self.coco_ap[split].compute()
            self.log_dict({f"{split}/oks_{name}_gtbox": value for name, value in values.items()})
            self.coco_ap[split].reset()

    def on_validation_epoch_end(self) -> None:
        self._log_coco_ap("val")

    def on_test_epoch_end(self) -> None:
        self._log_coco_ap("test")

    def predict(self, images: torch.Tensor, info: dict[str, Any] | None = None) -> dict[str, torch.Tensor]:
        """``keypoints`` (B, K, 2) in input pixels and their heatmap maxima ``scores`` (B, K), with the flip
        test if set; with ``info``, ``image_keypoints`` in the pixels of each image (`tasks.decoding`)."""
        return decode_pose(self.predicted_heatmaps(images), tuple(images.shape[-2:]), info)

    def log_media(self, images: torch.Tensor, output: Any, target: dict[str, torch.Tensor]) -> None:
        run = self.wandb_run()
        if run is None:
            return
        import wandb

        from .media import draw_poses, to_uint8_images

        keypoints, _ = decode_heatmaps(last_output(output), tuple(images.shape[-2:]))
        pictures = []
        for i, img in enumerate(to_uint8_images(images)):
            visible = target["visibility"][i].cpu().numpy()
            poses = [
                (target["keypoints"][i].cpu().numpy(), visible, (0, 200, 0)),
                (keypoints[i].cpu().numpy(), visible, (230, 30, 30)),
            ]
            pictures.append(wandb.Image(draw_poses(img, poses, self.skeleton), caption="green: truth, red: prediction"))
        run.log({"val/predictions": pictures, "trainer/global_step": self.global_step})
