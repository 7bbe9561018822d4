"""How long the `zoo` command takes to answer, from a fresh process: the median wall time of a few runs of
each command, as a user waits for it (imports included).

    .venv/bin/python benchmarks/startup.py [--runs 3]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

BIN = Path(sys.executable).parent
COMMANDS = {
    "python -c 'import zoo'": [sys.executable, "-c", "import zoo"],
    "python -c 'import tasks.cli'": [sys.executable, "-c", "import tasks.cli"],
    "zoo configs": [str(BIN / "zoo"), "configs"],
    "zoo models": [str(BIN / "zoo"), "models"],
    "zoo models --compat": [str(BIN / "zoo"), "models", "--compat"],
    "zoo fit --help": [str(BIN / "zoo"), "fit", "--help"],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    print("| command | median wall s | runs |\n|---|---:|---:|")
    for label, command in COMMANDS.items():
        times = []
        for _ in range(args.runs):
            start = time.perf_counter()
            subprocess.run(command, capture_output=True, check=True)
            times.append(time.perf_counter() - start)
        print(f"| `{label}` | {statistics.median(times):.2f} | {args.runs} |")


if __name__ == "__main__":
    main()
