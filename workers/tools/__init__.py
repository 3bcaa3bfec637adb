"""The work behind ``trainyard test``, ``vis-lr`` and ``vis-cam`` (MMCls's ``tools/test.py``,
``tools/visualizations/vis_lr.py`` and ``vis_cam.py``), as functions the CLI and other code can call, and one
module per analysis tool of the seed (``analyze_logs``, ``eval_metric``, ``analyze_results``,
``confusion_matrix``, ``vis_pipeline``, ``verify_dataset``, ``publish_model``), each adding its subcommand with
``add_parser`` and importing torch only when it runs.

The names load on first use (PEP 562), so that importing one tool (the CLI's parser imports ``vis_cam``)
does not import torch through ``test``."""

from importlib import import_module

_HOME = {"OUT_ITEMS": "test", "dump_results": "test", "score_checkpoint": "test",
         "iters_per_epoch": "vis_lr", "lr_curve": "vis_lr"}

__all__ = sorted(_HOME)


def __getattr__(name: str):
    if name in _HOME:
        return getattr(import_module(f"workers.tools.{_HOME[name]}"), name)
    raise AttributeError(f"module 'workers.tools' has no attribute {name!r}")
