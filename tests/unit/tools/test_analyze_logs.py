"""``trainyard analyze-logs plot-curve|cal-train-time`` on ``.log.json`` files written by a real training run and by
the engine's own writer (``workers.engine.logger.RunLogger``)."""

from __future__ import annotations

import re

import pytest

from workers.cli import main
from workers.engine.logger import RunLogger
from workers.tools.analyze_logs import cal_train_time, curve, load_json_log, plot_curve


def write_log(folder, name: str, records: list[dict]):
    """A ``.log.json`` written by the engine's writer: train records through ``train_record``, val ones through
    ``val_record``."""
    log = RunLogger(folder, name, console=False)
    try:
        for step, record in enumerate(records, 1):
            if record["mode"] == "train":
                log.train_record(record, epoch_len=4, step=step)
            else:
                log.val_record(record, step=step)
    finally:
        log.close()
    return folder / f"{name}.log.json"


def epoch_log(folder, name="run_b", times=((1.5, 0.1, 0.1), (0.5, 0.3, 0.3)), top1=(40.0, 70.0)):
    """Two epochs of 3 logged iterations (iter 1, 2, 3) with the given times, each followed by an evaluation."""
    records = []
    for epoch, (epoch_times, acc) in enumerate(zip(times, top1, strict=True), 1):
        for i, t in enumerate(epoch_times, 1):
            records.append({"mode": "train", "epoch": epoch, "iter": i, "lr": 0.1, "data_time": 0.0,
                            "loss": 2.0 / (epoch * 3 + i), "time": t})
        records.append({"mode": "val", "epoch": epoch, "iter": 2, "lr": 0.1, "accuracy_top-1": acc})
    return write_log(folder, name, records)


def test_it_plots_two_runs_and_two_keys_on_one_figure(tiny_run, tmp_path, capsys):
    other = epoch_log(tmp_path)
    out = tmp_path / "curves.svg"
    code = main(["analyze-logs", "plot-curve", str(tiny_run.log_json), str(other), "--keys", "loss",
                 "accuracy_top-1", "--legend", "tiny-loss", "tiny-top1", "b-loss", "b-top1", "--title", "Two runs",
                 "--out", str(out)])
    assert code == 0
    svg = out.read_text()
    for name in ("tiny-loss", "tiny-top1", "b-loss", "b-top1", "Two runs"):
        assert f"<!-- {name} -->" in svg  # matplotlib names each legend text and the title in the SVG
    assert f"save curve to: {out}" in capsys.readouterr().out


@pytest.mark.parametrize("suffix, magic", [(".png", b"\x89PNG"), (".pdf", b"%PDF")])
def test_it_saves_png_and_pdf(tiny_run, tmp_path, suffix, magic):
    out = tmp_path / f"loss{suffix}"
    assert main(["analyze-logs", "plot_curve", str(tiny_run.log_json), "--out", str(out)]) == 0
    assert out.read_bytes()[:len(magic)] == magic


def test_training_keys_run_over_iterations_and_metrics_over_epochs(tiny_run):
    run = load_json_log(tiny_run.log_json)  # 2 epochs of 5 iterations, every iteration logged, evaluated each epoch
    xs, ys, label = curve(run, "loss")
    assert label == "iter" and xs == list(range(1, 11)) and len(ys) == 10
    xs, ys, label = curve(run, "accuracy_top-1")
    assert label == "epoch" and xs == [1, 2] and all(0 <= y <= 100 for y in ys)


def test_beside_training_keys_metrics_sit_at_the_end_of_their_epoch(tiny_run, tmp_path):
    both = plot_curve([tiny_run.log_json], ["loss", "accuracy_top-1"], out=tmp_path / "both.png")
    assert both[f"{tiny_run.log_json.name[:-9]}_accuracy_top-1"][0] == [5, 10]  # 5 iterations an epoch
    alone = plot_curve([tiny_run.log_json], ["accuracy_top-1"], legend=["top1"], out=tmp_path / "alone.png")
    assert alone["top1"][0] == [1, 2]


def test_an_iter_based_log_runs_over_the_global_iteration(tmp_path):
    records = [{"mode": "train", "epoch": 1, "iter": i, "lr": 0.1, "data_time": 0.0, "loss": 1.0 / i, "time": 0.1} for i in (10, 20)]
    records.append({"mode": "val", "epoch": 1, "iter": 20, "lr": 0.1, "accuracy_top-1": 50.0})
    records += [{"mode": "train", "epoch": 2, "iter": i, "lr": 0.1, "data_time": 0.0, "loss": 1.0 / i, "time": 0.1} for i in (30, 40)]
    records.append({"mode": "val", "epoch": 2, "iter": 40, "lr": 0.1, "accuracy_top-1": 60.0})
    run = load_json_log(write_log(tmp_path, "iters", records))
    assert curve(run, "loss")[0] == [10, 20, 30, 40]
    assert curve(run, "accuracy_top-1")[:3:2] == ([20, 40], "iter")


def test_the_default_legend_is_the_logs_name_and_key(tmp_path):
    log = epoch_log(tmp_path, name="20261206_101010")
    out = tmp_path / "c.svg"
    assert main(["analyze-logs", "plot-curve", str(log), "--keys", "loss", "--out", str(out)]) == 0
    assert "<!-- 20261206_101010_loss -->" in out.read_text()


def test_it_explains_an_unknown_key_a_wrong_legend_and_a_format(tiny_run, tmp_path, capsys):
    log = str(tiny_run.log_json)
    assert main(["analyze-logs", "plot-curve", log, "--keys", "accuracy", "--out", str(tmp_path / "a.png")]) == 1
    err = capsys.readouterr().err
    assert "has no 'accuracy' in its records; its keys: accuracy_top-1, accuracy_top-5, data_time, loss, lr, time" in err
    assert main(["analyze-logs", "plot-curve", log, "--keys", "loss", "lr", "--legend", "one",
                 "--out", str(tmp_path / "a.png")]) == 1
    assert "--legend needs 2 names (one per log and key: 1 x 2), got 1" in capsys.readouterr().err
    assert main(["analyze-logs", "plot-curve", log, "--out", str(tmp_path / "a.gif")]) == 1
    assert "--out must end in .png, .pdf, .svg, .jpg, .jpeg, got 'a.gif'" in capsys.readouterr().err


def test_it_prints_the_train_time_as_the_seed_does(tmp_path, capsys):
    log = epoch_log(tmp_path)  # epoch 1: 1.5 (the slow first iteration), 0.1, 0.1; epoch 2: 0.5, 0.3, 0.3
    assert main(["analyze-logs", "cal-train-time", str(log)]) == 0
    assert capsys.readouterr().out.splitlines() == [
        f"-----Analyze train time of {log}-----",
        "slowest epoch 2, average time is 0.3000",
        "fastest epoch 1, average time is 0.1000",
        "time std over epochs is 0.1000",
        "average iter time: 0.2000 s/iter",
        "",
    ]


def test_include_outliers_counts_the_first_iteration(tmp_path):
    log = epoch_log(tmp_path)
    t = cal_train_time(log, include_outliers=True)
    assert (t["slowest_epoch"], t["fastest_epoch"]) == (1, 2)
    assert t["slowest_time"] == pytest.approx(1.7 / 3) and t["average"] == pytest.approx(2.8 / 6)


def test_it_times_a_real_run(tiny_run, capsys):
    assert main(["analyze-logs", "cal_train_time", str(tiny_run.log_json)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert re.fullmatch(r"slowest epoch [12], average time is \d+\.\d{4}", lines[1])
    assert re.fullmatch(r"average iter time: \d+\.\d{4} s/iter", lines[4])
