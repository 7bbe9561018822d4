"""archzoo backbones as segmentation_models_pytorch encoders through smp's ``tu-`` (timm universal)
encoders, which build ``timm.create_model(name, features_only=True)``: no smp-specific code. smp is
optional (the ``bench`` extra), so these tests skip without it.

Which backbones fit: smp's decoders expect maps at strides 2, 4, 8, 16, 32 (or 1, 2, ... for
VGG-like encoders). The ImageNet-layout ResNets and DenseNets have exactly these; the CIFAR nets
(strides 1, 2, 4), the U-Net encoders (1 to 16) and the hourglass (2, then 4 for every stack) fit at
a smaller ``encoder_depth``; ``DeepLabV3Plus`` needs ``output_stride``, which the ResNets take."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import zoo  # noqa: F401  (registers the archzoo_ names in timm)

smp = pytest.importorskip("segmentation_models_pytorch")


@pytest.mark.parametrize(
    "arch, encoder, options",
    [
        ("Unet", "tu-archzoo_resnet18", {}),
        ("FPN", "tu-archzoo_resnet18", {}),
        ("DeepLabV3Plus", "tu-archzoo_resnet18", {}),  # output_stride 16: the last stage dilates
        ("Unet", "tu-archzoo_densenet121", {}),
        ("Unet", "tu-archzoo_resnet20", dict(encoder_depth=2, decoder_channels=(32, 16))),
        ("Unet", "tu-archzoo_hourglass1", dict(encoder_depth=2, decoder_channels=(32, 16))),
    ],
)
def test_smp_model_with_an_archzoo_encoder_trains_a_step(arch, encoder, options):
    torch.manual_seed(0)
    model = getattr(smp, arch)(encoder_name=encoder, encoder_weights=None, classes=3, **options)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    x, target = torch.randn(2, 3, 64, 64), torch.randint(0, 3, (2, 64, 64))
    out = model(x)
    assert out.shape == (2, 3, 64, 64)
    loss = torch.nn.functional.cross_entropy(out, target)
    loss.backward()
    assert torch.isfinite(loss) and [n for n, p in model.named_parameters() if p.grad is None] == []
    before = model.encoder.model.model.conv1.weight.clone() if "resnet" in encoder else None
    optimizer.step()
    assert before is None or not torch.equal(before, model.encoder.model.model.conv1.weight)


def test_the_readme_smp_snippet_runs_unchanged():
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    code = readme[readme.index("### With timm") :].split("```python\n")[2].split("```", 1)[0]
    assert "smp.Unet" in code
    namespace: dict = {}
    exec(compile(code, "README.md, With timm (smp)", "exec"), namespace)
    assert namespace["masks"].shape == (2, 3, 64, 64)
