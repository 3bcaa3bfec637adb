"""`trainyard --help` and `trainyard remote ...` (a plain HTTP client) start without loading torch: only the
subcommand that needs the engine loads it."""
import subprocess
import sys

from workers import cli


def test_building_the_parser_loads_no_torch():
    code = ("import sys; from workers import cli; cli.build_parser(); "
            "print(sorted(m for m in ('torch', 'onnx', 'pytorch_grad_cam') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_the_parsers_default_opset_is_the_exporters():
    from workers.export import DEFAULT_OPSET

    args = cli.build_parser().parse_args(["export", "onnx", "spec.py", "ckpt.pth", "out.onnx"])
    assert args.opset_version == DEFAULT_OPSET
