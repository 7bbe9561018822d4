"""`zoo analyze`: studies that reproduce what the residual-learning literature claims (He et al.
2015 and 2016; Veit et al. 2016; Balduzzi et al. 2017; Huang et al. 2017; Prince, "Understanding
Deep Learning", ch. 11). Each study is a module with ``QUICK`` and ``FULL`` configurations and a
``run(analyze_run, config) -> Verdict``; it writes a PNG plot, a JSON of numbers and a W&B run
(see `tasks.analyze.common`), and `tasks.analyze.cli` runs them from the command line.
"""

from .cli import STUDIES, main
from .common import AnalyzeRun, Verdict

__all__ = ["STUDIES", "AnalyzeRun", "Verdict", "main"]
