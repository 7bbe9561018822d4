"""Image classification: cross-entropy with label smoothing (Szegedy et al. 2016, sec. 7), top-1
and top-5 accuracy, and a confusion matrix logged to W&B."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torchmetrics import MetricCollection
from torchmetrics.classification import MulticlassAccuracy, MulticlassConfusionMatrix

from .base import ClassTask
from .decoding import decode_classification


class ClassificationTask(ClassTask):
    """Any zoo model with a classification head.

    Args:
        num_classes: class count; taken from the data module when None.
        class_names: names for the confusion matrix; from the data module when None.
        label_smoothing: the cross-entropy's smoothing.
        **kwargs: the model and the optimisation, see `ZooTask`.
    """

    task = "classification"
    monitor = "val/acc1"

    def __init__(
        self,
        *,
        num_classes: int | None = None,
        class_names: list[str] | None = None,
        label_smoothing: float = 0.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)

    def configure_losses(self) -> None:
        self.criterion = nn.CrossEntropyLoss(label_smoothing=self.hparams.label_smoothing)

    def configure_metrics(self) -> None:
        metrics = MetricCollection(
            {
                "acc1": MulticlassAccuracy(self.num_classes, top_k=1, average="micro"),
                "acc5": MulticlassAccuracy(self.num_classes, top_k=min(5, self.num_classes), average="micro"),
            }
        )
        self.val_metrics, self.test_metrics = metrics.clone(prefix="val/"), metrics.clone(prefix="test/")
        self.confusion = MulticlassConfusionMatrix(self.num_classes)

    def compute_loss(self, output: torch.Tensor, target: torch.Tensor, images: torch.Tensor) -> torch.Tensor:
        return self.criterion(output, target)

    def update_metrics(self, output: torch.Tensor, target: torch.Tensor, images: torch.Tensor, split: str) -> None:
        metrics = self.val_metrics if split == "val" else self.test_metrics
        metrics.update(output, target)
        self.log_dict(metrics, batch_size=len(images))
        if split == "val":
            self.confusion.update(output, target)

    def predict(self, images: torch.Tensor, info: dict[str, Any] | None = None) -> dict[str, torch.Tensor]:
        return decode_classification(self(images), tuple(images.shape[-2:]), info)

    def on_validation_epoch_end(self) -> None:
        matrix = self.confusion.compute().cpu()
        self.confusion.reset()
        run = self.wandb_run()
        if run is None:
            return
        import wandb

        names = self.label_names
        rows = [[names[i], names[j], int(matrix[i, j])] for i in range(len(names)) for j in range(len(names))]
        table = wandb.Table(columns=["Actual", "Predicted", "nPredictions"], data=rows)
        fields = {"Actual": "Actual", "Predicted": "Predicted", "nPredictions": "nPredictions"}
        run.log(
            {
                "val/confusion_matrix": wandb.plot_table(
                    "wandb/confusion_matrix/v1", table, fields, {"title": "Confusion matrix"}
                ),
                "trainer/global_step": self.global_step,
            }
        )

    def log_media(self, images: torch.Tensor, output: torch.Tensor, target: torch.Tensor) -> None:
        run = self.wandb_run()
        if run is None:
            return
        import wandb

        from .media import to_uint8_images

        names = self.label_names
        preds = output.argmax(1).tolist()
        pictures = [
            wandb.Image(img, caption=f"true {names[t]} / pred {names[p]}")
            for img, t, p in zip(to_uint8_images(images), target.tolist(), preds, strict=True)
        ]
        run.log({"val/predictions": pictures, "trainer/global_step": self.global_step})
