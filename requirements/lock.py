"""Write the pinned, hashed dependency locks of Trainyard from ``pyproject.toml`` (``make lock``).

One resolution (uv's, for CPython 3.11 on x86_64 Linux, from PyPI) split into the files an install reads:

- ``build.txt``: setuptools and wheel, installed first: deepspeed and grad-cam ship only source
  distributions, and they (and the project itself) are built with ``--no-build-isolation`` so that their
  build dependencies are pinned and hash-checked too (pip does not hash-check an isolated build's).
- ``torch-cuda.txt``: torch, torchvision and what only they pull in (triton, NVIDIA's CUDA wheels): PyPI's
  Linux build of torch, which carries CUDA and also runs without a GPU.
- ``torch-cpu.txt`` (``make lock-cpu``): the same torch and torchvision, CPU-only builds from PyTorch's own
  index (``--torch-backend cpu``): no CUDA wheels. Written only where that index is reachable.
- ``service.txt``: everything else the service, Celery and the Ray nodes import.
- ``dev.txt``: the ``dev`` extra's test tools, resolved with the files above as constraints.

Every line is ``name==version`` with its sha256 hashes: install with
``pip install --require-hashes --no-deps -r requirements/build.txt`` then the torch file of the variant and
``service.txt`` (``infra/docker/Dockerfile``, ``make venv-locked``).

Usage: ``python requirements/lock.py --uv PATH [--cpu]`` (the Makefile installs uv in a throwaway venv).
"""
from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
TARGET = ["--python-version", "3.11", "--python-platform", "x86_64-manylinux_2_28"]
# pulled in by torch alone; everything else goes to service.txt
TORCH_FAMILY = re.compile(r"^(torch|torchvision|triton|nvidia-[a-z0-9-]+|cuda-[a-z0-9-]+)$")
PYTORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"
ENTRY = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==")


def entries(text: str) -> dict[str, str]:
    """The lock's entries by normalised name: each ``name==version \\`` line with its hash and ``# via`` lines."""
    out: dict[str, str] = {}
    name = None
    for line in text.splitlines():
        match = ENTRY.match(line)
        if match:
            name = re.sub(r"[-_.]+", "-", match.group(1)).lower()
            out[name] = line + "\n"
        elif name and line.startswith("    "):
            out[name] += line + "\n"
        else:
            name = None
    return out


def header(what: str, command: str) -> str:
    return (f"# {what}\n# Written by `{command}` (requirements/lock.py) from pyproject.toml; do not edit.\n"
            "# Install with --require-hashes --no-deps (every dependency is listed, each with its hashes).\n")


def compile_lock(uv: str, *args: str) -> str:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "lock.txt"
        subprocess.run([uv, "pip", "compile", *args, *TARGET, "--generate-hashes", "--no-header",
                        "--quiet", "-o", str(out)], cwd=ROOT, check=True)
        # the inputs lie in temporary folders: name them alone, so that the files do not change from run to run
        return re.sub(r"\S*/(constraints\.txt|build\.in|torch\.in)\b", r"\1", out.read_text())


def write(out: Path, name: str, what: str, command: str, chosen: dict[str, str], options: str = "") -> None:
    body = "".join(chosen[k] for k in sorted(chosen))
    (out / name).write_text(header(what, command) + options + body)
    print(f"{out / name}: {len(chosen)} packages")


def lock_all(uv: str, out: Path = HERE) -> None:
    """build.txt, torch-cuda.txt, service.txt and dev.txt in ``out``, from one resolution of pyproject.toml."""
    runtime = entries(compile_lock(uv, "pyproject.toml"))
    torch = {k: v for k, v in runtime.items() if TORCH_FAMILY.match(k)}
    service = {k: v for k, v in runtime.items() if k not in torch}
    with tempfile.TemporaryDirectory() as tmp:
        pins = Path(tmp) / "constraints.txt"
        pins.write_text("".join(v.split(" \\")[0] + "\n" for v in runtime.values()))
        build_in = Path(tmp) / "build.in"
        build_in.write_text("setuptools\nwheel\n")
        build = entries(compile_lock(uv, str(build_in), "-c", str(pins)))
        dev = entries(compile_lock(uv, "pyproject.toml", "--extra", "dev", "-c", str(pins)))
    write(out, "build.txt", "Build tools: the sdists (deepspeed, grad-cam) and the project build with them.",
          "make lock", build)
    write(out, "torch-cuda.txt", "torch and torchvision from PyPI (CUDA 13; runs on CPU too) with their CUDA wheels.",
          "make lock", torch)
    write(out, "service.txt", "Everything but torch's family: the web, Celery and every Ray node.", "make lock",
          service)
    write(out, "dev.txt", "The dev extra's test tools, on top of service.txt and a torch file.", "make lock",
          {k: v for k, v in dev.items() if k not in runtime})


def lock_cpu(uv: str, out: Path = HERE) -> None:
    """torch-cpu.txt in ``out``: torch and torchvision as pinned in pyproject.toml, CPU builds from PyTorch's
    index, resolved against requirements/service.txt (whose packages stay there)."""
    with tempfile.TemporaryDirectory() as tmp:
        wanted = Path(tmp) / "torch.in"
        pinned = [line.strip().strip('",') for line in (ROOT / "pyproject.toml").read_text().splitlines()
                  if re.match(r'\s*"(torch|torchvision)==', line)]
        wanted.write_text("\n".join(pinned) + "\n")
        service = entries((HERE / "service.txt").read_text())
        pins = Path(tmp) / "constraints.txt"
        pins.write_text("".join(v.split(" \\")[0] + "\n" for v in service.values()))
        cpu = entries(compile_lock(uv, str(wanted), "--torch-backend", "cpu", "-c", str(pins)))
    write(out, "torch-cpu.txt", "torch and torchvision, CPU-only builds from PyTorch's index (no CUDA wheels).",
          "make lock-cpu", {k: v for k, v in cpu.items() if k not in service},
          options=f"--extra-index-url {PYTORCH_CPU_INDEX}\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--uv", required=True, help="the uv executable")
    parser.add_argument("--cpu", action="store_true", help="write torch-cpu.txt (needs PyTorch's CPU index)")
    parser.add_argument("--out", type=Path, default=HERE, help="where to write the files (default: requirements/)")
    args = parser.parse_args(argv)
    if args.cpu:
        lock_cpu(args.uv, args.out)
    else:
        lock_all(args.uv, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
