"""``trainyard flops``: MMCls's get_flops.py output for a library spec name or a spec file."""

from __future__ import annotations

import json

from jobspecs.library import library_dir
from workers.cli import main

RESNET50 = "resnet/resnet50_8xb32_in1k.py"


def test_it_prints_the_seed_block_for_a_library_spec(capsys):
    assert main(["flops", RESNET50]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines == ["=" * 30, "Input shape: (3, 224, 224)", "Flops: 4.12 GFLOPs", "Params: 25.56 M", "=" * 30]


def test_it_takes_a_spec_path_and_a_square_shape_as_json(capsys):
    assert main(["flops", str(library_dir() / "resnet/resnet18_8xb16_cifar10.py"), "--shape", "32",
                 "--format", "json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result == {"input_shape": [3, 32, 32], "flops": 557_211_648, "params": 11_173_962}


def test_it_takes_height_and_width(capsys):
    assert main(["flops", RESNET50, "--shape", "224", "112", "--format", "json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["input_shape"] == [3, 224, 112]
    assert 0.45 < result["flops"] / 4_119_876_096 < 0.55


def test_it_counts_params_only(capsys):
    assert main(["flops", RESNET50, "--params-only", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"params": 25_557_032}
    assert main(["flops", RESNET50, "--params-only"]) == 0
    assert "Params: 25.56 M" in capsys.readouterr().out


def test_it_reports_an_unknown_spec(capsys):
    assert main(["flops", "resnet/nope.py"]) == 2
    assert "library spec 'resnet/nope.py' not found" in capsys.readouterr().err


def test_it_refuses_three_shape_values(capsys):
    assert main(["flops", RESNET50, "--shape", "1", "2", "3"]) == 1
    assert "--shape takes H or H W" in capsys.readouterr().err
