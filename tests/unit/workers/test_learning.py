"""The demo spec really learns the handwritten digits: the loss falls and val top-1 passes 90%."""

from __future__ import annotations

import json

from tests.support.reporters import ListReporter
from tests.support.specs import demo_spec
from workers.engine import train


def test_it_learns_the_digits_with_the_demo_spec(digits_root, tmp_path):
    spec = demo_spec()
    spec["runner"]["max_epochs"] = 4  # 6 in the library spec; 4 keep the test short and pass with margin
    reporter = ListReporter()

    best = train(spec, tmp_path, data_root=digits_root, seed=0, reporter=reporter, console=False)

    losses = [values["loss"] for _, values, _, mode in reporter.points if mode == "train"]
    assert len(losses) == 4 * 4  # 45 iterations an epoch, a record every 10
    assert sum(losses[-4:]) / 4 < 0.5 * sum(losses[:4]) / 4
    top1 = [values["accuracy_top-1"] for _, values, _, mode in reporter.points if mode == "val"]
    assert len(top1) == 4 and top1[-1] >= 90.0
    assert best["accuracy_top-1"] == max(top1) and best["accuracy_top-5"] >= 99.0

    records = [json.loads(line) for line in next(tmp_path.glob("*.log.json")).read_text().splitlines()]
    assert records[0].keys() >= {"mode", "epoch", "iter", "lr", "loss", "time", "data_time"}
    assert (records[0]["mode"], records[0]["epoch"], records[0]["iter"]) == ("train", 1, 10)
    val = [r for r in records if r["mode"] == "val"]
    assert [(r["epoch"], r["iter"]) for r in val] == [(1, 12), (2, 12), (3, 12), (4, 12)]
    assert val[-1].keys() == {"mode", "epoch", "iter", "lr", "accuracy_top-1", "accuracy_top-5"}
    steps = [step for step, _, _, mode in reporter.points if mode == "val"]
    assert steps == [45, 90, 135, 180]
    assert any("Epoch(val) [4][12]\taccuracy_top-1: " in line for line in reporter.lines)
    assert next(tmp_path.glob("*.log")).read_text().count("\n") == len(reporter.lines)
