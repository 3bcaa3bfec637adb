"""Server-rendered dashboard pages, one module per feature. State changes go through service functions.

- ``runs``: the runs list (filters, sort, pages, bulk cancel/tag)
- ``run_detail``: one run (timeline, curves, log, checkpoints, spec diffs, reproducibility, tags)
- ``new``: the new-run form (spec library with zoo numbers, cfg-options rows, live validation, forks)
- ``datasets``: registering and verifying datasets
"""
from .datasets import dataset_detail, dataset_list, dataset_verify
from .new import run_new, spec_list, validate_spec
from .run_detail import run_checkpoints, run_detail, run_diff, run_tags, run_timeline
from .runs import run_cancel, run_list, run_table, runs_bulk

__all__ = [
    "dataset_detail", "dataset_list", "dataset_verify", "run_cancel", "run_checkpoints", "run_detail", "run_diff",
    "run_list", "run_new", "run_table", "run_tags", "run_timeline", "runs_bulk", "spec_list", "validate_spec",
]
