"""`zoo bench`: every family on every task under one budget, and the zoo's speed against
torchvision and timm (timm's benchmark.py is the model; measured logs in docs/benchmarks.md).

- `preset`: the cells of a bench, read from configs/bench/*.yaml and validated before any runs;
- `cell`: train, validate and measure one cell in-process (one W&B run);
- `measure`: median timings, peak memory, the matmul ceiling;
- `leaderboard` / `plots`: the results on disk (atomic per cell) and the figures;
- `runner`: a whole bench with progress display, resume and W&B summary;
- `reference`: zoo vs torchvision/timm ratios, side by side in one process;
- `cli`: the `zoo bench` arguments.
"""
