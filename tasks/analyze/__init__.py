"""`zoo analyze`: studies that reproduce what the residual-learning literature claims (He et al.
2015 and 2016; Veit et al. 2016; Balduzzi et al. 2017; Huang et al. 2017; Prince, "Understanding
Deep Learning", ch. 11). Each study is a module with ``QUICK`` and ``FULL`` configurations, a
``verdict`` that judges the paper's claim from the measured numbers alone, and a
``run(analyze_run, config) -> Verdict`` that measures, judges and writes a PNG plot, a JSON of
numbers and a W&B run (see `tasks.analyze.common`). The studies of trained nets share the nets of
`tasks.analyze.training`, and `tasks.analyze.cli` runs the studies from the command line.
"""

from .cli import STUDIES, main
from .common import AnalyzeRun, Verdict

__all__ = ["STUDIES", "AnalyzeRun", "Verdict", "main"]
