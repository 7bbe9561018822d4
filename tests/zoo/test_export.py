"""Tests for zoo.export: every family on every task exports to ONNX and to a torch.export program whose
outputs match the PyTorch model's (within 1e-4) at two batch sizes and two input sizes, with a dynamic
batch and the input sizes the architecture takes; the ONNX file's metadata; clear errors."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime
import pytest
import torch

import zoo
from zoo.export import example_input, export_onnx, input_rule, save_program

TINY = {
    "resnet18": {"widths": [4, 4, 8, 8]},
    "densenet121": {"growth_rate": 4, "block_config": (1, 1, 1, 1), "num_init_features": 8},
    "unet_same": {"base_width": 4, "depth": 2},
    "hourglass1": {"channels": 8, "depth": 2},
}
OUTPUTS = {"classification": {"num_classes": 3}, "segmentation": {"num_classes": 3}, "pose": {"num_joints": 4}}


def trained_like(name: str, task: str, **kwargs) -> torch.nn.Module:
    """A tiny model whose BatchNorm statistics were updated, as a trained model's are (eval-mode BN on
    fresh statistics lets activations grow with depth, which would measure the tolerance, not the export)."""
    torch.manual_seed(0)
    extra = {"width": 8} if task == "pose" and zoo.get_spec(name).family in ("resnet", "densenet") else {}
    model = zoo.create_model(name, task=task, **TINY.get(name, {}), **OUTPUTS[task], **extra, **kwargs)
    with torch.no_grad():
        for _ in range(3):
            model.train()(torch.randn(4, model.in_chans, 64, 64))
    return model.eval()


def reference(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        out = model(x)
    return out[-1] if isinstance(out, list) else out


@pytest.mark.parametrize("task", zoo.TASKS)
@pytest.mark.parametrize("name", list(TINY))
def test_onnx_and_torch_export_match_the_model(tmp_path: Path, name: str, task: str) -> None:
    assert_exports_match(trained_like(name, task), tmp_path)


def test_a_full_resolution_unet_exports_odd_sizes_trimmed(tmp_path: Path) -> None:
    """The trim after the skip-less decoder stages follows the traced input size (67 -> 68 -> 67)."""
    assert_exports_match(trained_like("resnet18", "segmentation", full_resolution=True), tmp_path)


def assert_exports_match(model: torch.nn.Module, tmp_path: Path) -> None:
    """The ONNX file and the torch.export program of ``model`` give its outputs at batch 1 and 3 and two
    input sizes it takes (an odd one where any size goes)."""
    onnx_file, pt2_file = export_onnx(model, tmp_path / "m.onnx"), save_program(model, tmp_path / "m.pt2")
    session = onnxruntime.InferenceSession(str(onnx_file))
    program = torch.export.load(pt2_file).module()
    rule = input_rule(model)
    for batch in (1, 3):
        for side in (rule.nearest(70)[1], rule.nearest(90)[1]) if rule.step > 1 else (67, 90):
            x = torch.randn(batch, 3, side, side)
            expected = reference(model, x)
            (from_onnx,) = session.run(None, {"images": x.numpy()})
            np.testing.assert_allclose(from_onnx, expected.numpy(), atol=1e-4, rtol=0)
            torch.testing.assert_close(program(x), expected, atol=1e-4, rtol=0)


def test_a_valid_padding_unet_exports_the_sizes_it_takes(tmp_path: Path) -> None:
    model = trained_like("unet", "segmentation", base_width=4, depth=2, in_chans=3)
    rule = input_rule(model)
    assert (rule.step, rule.offset, rule.minimum) == (4, 0, 44)  # 4k, from 44: every level even before its pool
    program = torch.export.load(save_program(model, tmp_path / "m.pt2")).module()
    for side in (44, 60):
        x = torch.randn(2, 3, side, side)
        torch.testing.assert_close(program(x), reference(model, x), atol=1e-4, rtol=0)


def test_the_onnx_file_says_what_runs_it(tmp_path: Path) -> None:
    model = trained_like("hourglass1", "pose")
    path = export_onnx(model, tmp_path / "m.onnx", opset=18, metadata={"archzoo.joint_names": ["a", "b", "c", "d"]})
    loaded = onnx.load(str(path))
    meta = {p.key: p.value for p in loaded.metadata_props}
    assert (
        meta["archzoo.input_sizes"] == "multiples of 16 from 16"
        and meta["archzoo.joint_names"] == '["a", "b", "c", "d"]'
    )
    assert meta["archzoo.mean"] == "[0.485, 0.456, 0.406]" and "RGB" in meta["archzoo.input"]
    assert [i.version for i in loaded.opset_import if i.domain == ""] == [18]
    dims = [d.dim_param or d.dim_value for d in loaded.graph.input[0].type.tensor_type.shape.dim]
    assert dims[1] == 3 and all(isinstance(d, str) for d in (dims[0], dims[2], dims[3]))  # batch, H, W dynamic


def test_export_errors_name_the_fix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model = trained_like("hourglass1", "pose")
    with pytest.raises(ValueError, match="cannot take a side of 70 px: it takes multiples of 16"):
        example_input(model, 70)
    monkeypatch.setitem(sys.modules, "onnxscript", None)  # the export extra is not installed
    with pytest.raises(ImportError, match=r"pip install 'archzoo\[export\]'"):
        export_onnx(model, tmp_path / "m.onnx")
    assert not (tmp_path / "m.onnx").exists()
