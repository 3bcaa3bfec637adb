"""The work behind ``trainyard test`` and ``trainyard vis-lr`` (MMCls's ``tools/test.py`` and
``tools/visualizations/vis_lr.py``), as functions the CLI and other code can call."""

from workers.tools.test import OUT_ITEMS, dump_results, score_checkpoint
from workers.tools.vis_lr import iters_per_epoch, lr_curve

__all__ = ["OUT_ITEMS", "dump_results", "iters_per_epoch", "lr_curve", "score_checkpoint"]
