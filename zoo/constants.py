"""The input normalisation archzoo's models are trained with: ImageNet's per-channel mean and std, as in
torchvision and timm (``timm.data.constants``). The data pipelines normalise with them, the W&B pictures
undo them, and a model's data config reports them."""

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
