"""A fingerprint of the weights every cell of a bench preset starts from: the SHA-256 of its network's
state dict, built and seeded as `zoo bench` builds and seeds it. The same fingerprints before and after
a change mean the change builds the same networks from the same seeds.

    .venv/bin/python benchmarks/cell_fingerprints.py [--preset quick]
"""

from __future__ import annotations

import argparse
import hashlib

import pytorch_lightning as pl

from tasks.bench.preset import load_preset


def fingerprint(state_dict: dict) -> str:
    """SHA-256 of the names, shapes and bytes of a state dict, in name order (16 hex digits)."""
    digest = hashlib.sha256()
    for name, tensor in sorted(state_dict.items()):
        digest.update(f"{name}{tuple(tensor.shape)}{tensor.dtype}".encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="quick")
    args = parser.parse_args()
    for cell in load_preset(args.preset).cells:
        pl.seed_everything(cell.data_kwargs.get("seed", 0), workers=True, verbose=False)  # as tasks.bench.cell
        module, _ = cell.build()
        print(f"{cell.cell_id:32s} {fingerprint(module.net.state_dict())}")


if __name__ == "__main__":
    main()
