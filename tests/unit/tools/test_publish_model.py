"""``trainyard publish-model IN OUT``: the optimizer dropped, the weights kept, the seed's
``<name>_<date>-<sha256[:8]>.pth`` file name."""

from __future__ import annotations

import datetime
import hashlib
import re

import torch

from workers.cli import main
from workers.engine.checkpoint import load_checkpoint
from workers.tools.publish_model import publish_checkpoint


def test_it_drops_the_optimizer_and_names_the_file_by_its_hash(tiny_run, tmp_path, capsys):
    out = tmp_path / "published" / "digits_resnet.pth"  # a missing folder is made (the seed's #463)
    assert main(["publish-model", str(tiny_run.checkpoint), str(out)]) == 0
    (final,) = (tmp_path / "published").iterdir()
    today = datetime.date.today().strftime("%Y%m%d")
    match = re.fullmatch(rf"digits_resnet_{today}-([0-9a-f]{{8}})\.pth", final.name)
    assert match and match.group(1) == hashlib.sha256(final.read_bytes()).hexdigest()[:8]
    assert capsys.readouterr().out.strip() == f"Successfully generated the publish-ckpt as {final}."
    original, published = load_checkpoint(tiny_run.checkpoint), load_checkpoint(final)
    assert "optimizer" in original and "optimizer" not in published
    assert published["meta"] == original["meta"]
    assert published["state_dict"].keys() == original["state_dict"].keys()
    assert all(torch.equal(published["state_dict"][k], v) for k, v in original["state_dict"].items())
    assert final.stat().st_size < tiny_run.checkpoint.stat().st_size


def test_the_published_checkpoint_scores_as_the_original(tiny_run, tmp_path, capsys):
    final = publish_checkpoint(tiny_run.checkpoint, tmp_path / "p.pth", date="20260101")
    assert final.name.startswith("p_20260101-")
    outputs = []
    for checkpoint in (tiny_run.checkpoint, final):
        capsys.readouterr()
        assert main(["test", str(tiny_run.spec_file), str(checkpoint), "--data-root", str(tiny_run.root),
                     "--metrics", "accuracy"]) == 0
        outputs.append(capsys.readouterr().out)
    assert outputs[0] == outputs[1] and "accuracy_top-1" in outputs[0]


def test_it_refuses_a_file_without_weights(tmp_path, capsys):
    bad = tmp_path / "bad.pth"
    torch.save({"meta": {}}, bad)
    assert main(["publish-model", str(bad), str(tmp_path / "out.pth")]) == 1
    assert f"{bad} is not a checkpoint with a 'state_dict'" in capsys.readouterr().err
    assert main(["publish-model", str(tmp_path / "nope.pth"), str(tmp_path / "out.pth")]) == 1
    assert "checkpoint not found" in capsys.readouterr().err
