"""The dependency locks (requirements/*.txt, ``make lock``) pin every package with its hashes, hold what
pyproject.toml asks for, and split torch's family from the rest so that a variant picks its torch file."""
import json
import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[3]
LOCKS = ROOT / "requirements"
TORCH_FAMILY = re.compile(r"^(torch|torchvision|triton|nvidia-[a-z0-9-]+|cuda-[a-z0-9-]+)$")


def _entries(name: str | Path) -> dict[str, tuple[str, list[str]]]:
    """``{package: (version, [sha256, ...])}`` of one lock file, refusing any line that is not part of an entry."""
    out: dict[str, tuple[str, list[str]]] = {}
    current = None
    for number, line in enumerate((LOCKS / name).read_text().splitlines(), 1):
        if not line or line.startswith("#") or line.startswith("--extra-index-url "):
            current = None
            continue
        entry = re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s\\;]+) \\$", line)
        if entry:
            current = canonicalize_name(entry.group(1))
            assert current not in out, f"{name}:{number}: {current} twice"
            out[current] = (entry.group(2), [])
            continue
        digest = re.match(r"^    --hash=sha256:([0-9a-f]{64})( \\)?$", line)
        if digest and current:
            out[current][1].append(digest.group(1))
            continue
        assert current and line.startswith("    #"), f"{name}:{number}: not a pinned, hashed entry: {line!r}"
        assert "/tmp" not in line, f"{name}:{number}: a temporary path"
    return out


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


@pytest.mark.parametrize("name", sorted(p.name for p in LOCKS.glob("*.txt")))
def test_every_package_is_pinned_to_one_version_with_its_hashes(name):
    entries = _entries(name)
    assert entries
    for package, (version, hashes) in entries.items():
        Version(version)  # an exact release, not a range or a URL
        assert hashes, f"{package}=={version} has no hash: pip --require-hashes refuses the whole file"


def test_the_runtime_locks_hold_every_dependency_at_a_version_pyproject_allows():
    locked = {**_entries("service.txt"), **_entries("torch-cuda.txt")}
    for line in _pyproject()["project"]["dependencies"]:
        wanted = Requirement(line)
        name = canonicalize_name(wanted.name)
        assert name in locked, f"{name} is not in the lock: run make lock"
        assert wanted.specifier.contains(locked[name][0], prereleases=True), (
            f"{name}=={locked[name][0]} breaks pyproject's {wanted.specifier}: run make lock")


def test_the_dev_lock_holds_the_test_tools():
    locked = {**_entries("service.txt"), **_entries("torch-cuda.txt"), **_entries("dev.txt")}
    for line in _pyproject()["project"]["optional-dependencies"]["dev"]:
        wanted = Requirement(line)
        name = canonicalize_name(wanted.name)
        assert name in locked and wanted.specifier.contains(locked[name][0], prereleases=True), name


def test_torch_and_what_only_it_pulls_in_live_in_the_variants_file():
    service, torch = _entries("service.txt"), _entries("torch-cuda.txt")
    assert not [name for name in service if TORCH_FAMILY.match(name)]
    assert all(TORCH_FAMILY.match(name) for name in torch)
    pins = {canonicalize_name(Requirement(d).name): str(Requirement(d).specifier)
            for d in _pyproject()["project"]["dependencies"]}
    assert f"=={torch['torch'][0]}" == pins["torch"] and f"=={torch['torchvision'][0]}" == pins["torchvision"]
    assert "nvidia-nccl-cu13" in torch  # PyPI's Linux torch: CUDA as wheels


def test_a_package_in_two_files_is_the_same_release_with_the_same_hashes():
    seen: dict[str, tuple[str, tuple[str, list[str]]]] = {}
    for lock in sorted(LOCKS.glob("*.txt")):
        for name, entry in _entries(lock.name).items():
            if name in seen:
                assert seen[name][1] == entry, f"{name}: {seen[name][0]} and {lock.name} disagree"
            seen[name] = (lock.name, entry)


def test_the_source_only_packages_build_with_the_locked_build_tools():
    """deepspeed and grad-cam ship no wheel: they build with --no-build-isolation, from build.txt's setuptools."""
    build = _entries("build.txt")
    assert {"setuptools", "wheel"} <= set(build)
    assert {"deepspeed", "grad-cam"} <= set(_entries("service.txt"))


FAKE_UV = """#!{python}
import json, sys
args = sys.argv[1:]
open({calls!r}, "a").write(json.dumps(args) + "\\n")
h = "--hash=sha256:" + "0" * 64
text = "".join(f"{{pin}} \\\\\\n    {{h}}\\n    # via x\\n"
               for pin in ("filelock==4.3.2", "torch==2.14.1+cpu", "torchvision==0.29.1+cpu"))
open(args[args.index("-o") + 1], "w").write(text)
"""


def test_make_lock_cpu_writes_only_the_cpu_builds_with_pytorchs_index(tmp_path):
    """``make lock-cpu`` (needs PyTorch's CPU index, so run here with a stand-in for uv that answers as uv does):
    torch and torchvision from ``--torch-backend cpu``, their other dependencies left to service.txt."""
    import subprocess
    import sys

    uv, calls = tmp_path / "uv", tmp_path / "calls.jsonl"
    uv.write_text(FAKE_UV.format(python=sys.executable, calls=str(calls)))
    uv.chmod(0o755)
    subprocess.run([sys.executable, str(LOCKS / "lock.py"), "--uv", str(uv), "--cpu", "--out", str(tmp_path)],
                   check=True, capture_output=True)
    cpu = _entries(tmp_path / "torch-cpu.txt")
    assert {name: version for name, (version, _) in cpu.items()} == {"torch": "2.14.1+cpu",
                                                                      "torchvision": "0.29.1+cpu"}
    text = (tmp_path / "torch-cpu.txt").read_text()
    assert "--extra-index-url https://download.pytorch.org/whl/cpu\n" in text
    [args] = [json.loads(line) for line in calls.read_text().splitlines()]
    assert args[:2] == ["pip", "compile"] and args[args.index("--torch-backend") + 1] == "cpu"
    assert "--generate-hashes" in args and args[args.index("--python-version") + 1] == "3.11"
