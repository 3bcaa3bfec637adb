"""Export coverage: every backbone family of the spec library exported to ONNX and TorchScript, verified.

Each family (a folder of ``jobspecs/library`` with a backbone of its own) is built from its smallest
variant (fewest parameters in its metafile) with random weights, at a small input (32x32 unless the family
needs more) so that all of them run on a CPU in minutes: the operators a family exports are the same at
any size. Families whose model fixes its input size (ViT-likes' position embeddings, MLP-Mixer's token
MLPs) are built for that small size; VGG's 224-only fully-connected classifier is replaced by pooling and
a linear head (its convolutions are the family).

The outcome per family and format is written into the family's ``metafile.yml`` (its collection's
``Export`` and ``ExportNote``) by ``python -m workers.export.coverage --write-metafiles``, and
``tests/unit/export/test_export_coverage.py`` checks the metafiles still tell the truth.
"""

from __future__ import annotations

import argparse
import copy
import re
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

__all__ = ["FORMATS", "Case", "Outcome", "build_case", "coverage_cases", "expected", "run_case", "state"]

FORMATS = ("onnx", "torchscript")
SIDE = 32
# model overrides merged into the smallest variant's `model`, and input sides other than SIDE
OVERRIDES = {
    "deit": {"backbone": {"img_size": SIDE}},
    "vision_transformer": {"backbone": {"img_size": SIDE}},
    "mlp_mixer": {"backbone": {"img_size": SIDE}},
    "mvit": {"backbone": {"img_size": SIDE}},
    "swin_transformer": {"backbone": {"img_size": SIDE}},
    "swin_transformer_v2": {"backbone": {"img_size": SIDE}},
    "t2t_vit": {"backbone": {"img_size": SIDE}},
    "tnt": {"backbone": {"img_size": SIDE}},
    "repmlp": {"backbone": {"img_size": SIDE}},
    "vgg": {"backbone": {"num_classes": -1}, "neck": {"type": "GlobalAveragePooling"},
            "head": {"_replace_": True, "type": "LinearClsHead", "num_classes": 1000, "in_channels": 512}},
}
SIDES = {"efficientformer": 224}  # its attention biases are sized for 7x7 tokens of 224x224 inputs
FALLBACK_OPSET = 14  # scaled_dot_product_attention (14), unflatten (13) and einsum (12) need more than 11
# families without a metafile: folder -> spec
WITHOUT_METAFILE = {"lenet": "lenet/lenet5_mnist.py"}
NOT_FAMILIES = ("_base_", "demo", "tutorial")


@dataclass(frozen=True)
class Case:
    """One family: its library folder, the spec of its smallest variant and that variant's name."""

    folder: str
    family: str
    spec: str
    variant: str


@dataclass
class Outcome:
    """How one family exported to one format."""

    folder: str
    format: str
    ok: bool
    seconds: float
    max_abs_diff: float | None = None
    error: str | None = None
    opset: int | None = None


def coverage_cases() -> list[Case]:
    """The smallest variant of every family, in folder order."""
    from jobspecs.library import library_dir
    from workers.models.zoo import zoo_entries

    smallest: dict[str, object] = {}
    for entry in zoo_entries():
        if entry.params is None:
            continue
        if entry.folder not in smallest or entry.params < smallest[entry.folder].params:
            smallest[entry.folder] = entry
    cases = [Case(e.folder, e.family, e.spec, e.variant) for e in smallest.values()]
    cases += [Case(folder, folder, spec, Path(spec).stem) for folder, spec in WITHOUT_METAFILE.items()
              if (library_dir() / spec).is_file()]
    return sorted(cases, key=lambda c: c.folder)


def _merge(base: dict, override: dict) -> dict:
    if override.get("_replace_"):
        return {k: v for k, v in override.items() if k != "_replace_"}
    out = dict(base)
    for key, value in override.items():
        out[key] = _merge(out.get(key) or {}, value) if isinstance(value, dict) else value
    return out


def _no_pretrained(cfg):
    """The config without ``Pretrained`` init_cfgs or ``pretrained`` paths: nothing is downloaded."""
    if isinstance(cfg, dict):
        out = {}
        for key, value in cfg.items():
            if key == "pretrained":
                continue
            if key == "init_cfg":
                kept = [c for c in (value if isinstance(value, list) else [value]) if c and c.get("type") != "Pretrained"]
                value = kept if isinstance(value, list) else (kept[0] if kept else None)
            out[key] = _no_pretrained(value)
        return out
    if isinstance(cfg, list):
        return [_no_pretrained(v) for v in cfg]
    return cfg


def _spread_scores(model) -> None:
    """Give the head's linear layers weights of a trained model's scale: initialised at std 0.01, they make every
    score ~1/num_classes, and a wrong graph would hide in the softmax's flat output."""
    import torch
    import torch.nn as nn

    head = getattr(model.classifier, "head", None)
    generator = torch.Generator().manual_seed(1)
    for module in head.modules() if head is not None else ():
        if isinstance(module, nn.Linear):
            with torch.no_grad():
                module.weight.copy_(torch.randn(module.weight.shape, generator=generator) * 3 / module.in_features ** 0.5)


def build_case(case: Case):
    """The family's smallest variant with random weights, in its inference form, and its input shape.

    Returns:
        ``(model, (1, C, H, W))``.
    """
    import torch

    import jobspecs
    from workers.export.model import input_channels, load_export_model

    spec = jobspecs.load_library(case.spec)
    model_cfg = _no_pretrained(_merge(copy.deepcopy(spec["model"]), OVERRIDES.get(case.folder, {})))
    torch.manual_seed(0)
    model, _ = load_export_model({"model": model_cfg}, None)
    _spread_scores(model)
    side = SIDES.get(case.folder, SIDE)
    return model, (1, input_channels(model), side, side)


def _export(model, shape, fmt: str, out_dir: Path, folder: str, opset: int) -> dict:
    from workers.export import export_onnx, export_torchscript

    if fmt == "onnx":
        return export_onnx(model, out_dir / f"{folder}-{opset}.onnx", shape, opset_version=opset, dynamic_export=True,
                           verify=True)
    if fmt == "torchscript":
        return export_torchscript(model, out_dir / f"{folder}.pt", shape, verify=True)
    raise ValueError(f"format must be one of {FORMATS}, got {fmt!r}")


def _failure(error: Exception) -> str:
    return f"{type(error).__name__}: {error}".splitlines()[0][:300]


def run_case(case: Case, out_dir: str | Path) -> list[Outcome]:
    """Export one family to every format with ``verify`` (ONNX at the seed's opset 11, else at
    ``FALLBACK_OPSET``); failures are recorded, not raised."""
    from workers.export import DEFAULT_OPSET

    out_dir = Path(out_dir)
    start = time.perf_counter()
    try:
        model, shape = build_case(case)
    except Exception as error:  # the family's outcome, whatever it was
        return [Outcome(case.folder, fmt, False, time.perf_counter() - start, error=_failure(error)) for fmt in FORMATS]
    built = time.perf_counter() - start
    outcomes = []
    for fmt in FORMATS:
        start = time.perf_counter()
        opsets = (DEFAULT_OPSET, FALLBACK_OPSET) if fmt == "onnx" else (None,)
        outcome = None
        for opset in opsets:
            try:
                result = _export(model, shape, fmt, out_dir, case.folder, opset)
            except Exception as error:
                outcome = outcome or Outcome(case.folder, fmt, False, 0.0, error=_failure(error))
                continue
            outcome = Outcome(case.folder, fmt, True, 0.0, max_abs_diff=result["max_abs_diff"], opset=opset,
                              error=outcome.error if outcome else None)  # why the seed's opset did not do
            break
        outcome.seconds = built + time.perf_counter() - start
        outcomes.append(outcome)
    return outcomes


def state(outcome: Outcome) -> str:
    """What the metafile says of one outcome: ``verified``, ``verified (opset 14)`` or ``fails``."""
    from workers.export import DEFAULT_OPSET

    if not outcome.ok:
        return "fails"
    return "verified" if outcome.opset in (None, DEFAULT_OPSET) else f"verified (opset {outcome.opset})"


def _metafile(folder: str) -> Path:
    from jobspecs.library import library_dir

    return library_dir() / folder / "metafile.yml"


def expected(folder: str) -> dict[str, str]:
    """What a family's metafile says about its export: ``{'onnx': 'verified' | 'fails', 'torchscript': ...}``
    (families without a metafile are expected to verify)."""
    import yaml

    path = _metafile(folder)
    if not path.is_file():
        return dict.fromkeys(FORMATS, "verified")
    collection = (yaml.safe_load(path.read_text()).get("Collections") or [{}])[0]
    export = collection.get("Export") or {}
    return {"onnx": str(export.get("ONNX", "unknown")), "torchscript": str(export.get("TorchScript", "unknown"))}


def write_metafile(folder: str, outcomes: list[Outcome]) -> bool:
    """Write the ``Export`` (and ``ExportNote``) lines into the family's collection; ``False`` if it has none."""
    path = _metafile(folder)
    if not path.is_file():
        return False
    by_format = {o.format: state(o) for o in outcomes}
    lines = [f"    Export: {{ONNX: {by_format['onnx']}, TorchScript: {by_format['torchscript']}}}"
             "  # trainyard export --verify, smallest variant (workers/export/coverage.py)"]
    notes = [f"{'ONNX' if o.format == 'onnx' else 'TorchScript'}{'' if not o.ok else ' at opset 11'}: {o.error}"
             for o in outcomes if o.error]
    if notes:
        text = "; ".join(notes).replace("\\", "/").replace('"', "'")
        lines.append(f'    ExportNote: "{text}"')
    source = [line for line in path.read_text().splitlines() if not re.match(r"    Export(Note)?:", line)]
    at = next(i for i, line in enumerate(source) if line.startswith("Models:"))
    while at and source[at - 1].startswith("#"):  # above the comments that introduce the models
        at -= 1
    source[at:at] = lines
    path.write_text("\n".join(source) + "\n")
    return True


def table(outcomes: list[Outcome], cases: list[Case]) -> str:
    """A markdown table: one row per family, a column per format."""
    by_key = {(o.folder, o.format): o for o in outcomes}
    rows = ["| family | smallest variant | ONNX (opset 11, dynamic) | TorchScript (trace) |", "| --- | --- | --- | --- |"]
    for case in cases:
        cells = []
        for fmt in FORMATS:
            outcome = by_key.get((case.folder, fmt))
            if outcome is None:
                cells.append("-")
            elif outcome.ok and outcome.error:
                cells.append(f"{state(outcome)}, max diff {outcome.max_abs_diff:.1e}, {outcome.seconds:.1f}s "
                             f"(opset 11: {outcome.error})")
            elif outcome.ok:
                cells.append(f"{state(outcome)}, max diff {outcome.max_abs_diff:.1e}, {outcome.seconds:.1f}s")
            else:
                cells.append(f"FAILS: {outcome.error}")
        rows.append(f"| {case.folder} | {case.variant} | {cells[0]} | {cells[1]} |")
    done = {fmt: sum(1 for o in outcomes if o.format == fmt and o.ok) for fmt in FORMATS}
    at_default = sum(1 for o in outcomes if o.format == "onnx" and state(o) == "verified")
    rows.append(f"\nverified: ONNX {done['onnx']}/{len(cases)} ({at_default} at opset 11, the others at "
                f"{FALLBACK_OPSET}), TorchScript {done['torchscript']}/{len(cases)}")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m workers.export.coverage", description=__doc__.splitlines()[0])
    parser.add_argument("families", nargs="*", help="library folders (default: all)")
    parser.add_argument("--write-metafiles", action="store_true", help="record the outcomes in the metafiles")
    parser.add_argument("--out", help="also write the table to this markdown file")
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    cases = [c for c in coverage_cases() if not args.families or c.folder in args.families]
    outcomes = []
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="trainyard-coverage-") as folder:
        for case in cases:
            mine = run_case(case, folder)
            for outcome in mine:
                shown = "ok" if outcome.ok else outcome.error
                print(f"{case.folder:20s} {outcome.format:12s} {outcome.seconds:6.1f}s {shown}", file=sys.stderr)
            outcomes += mine
            if args.write_metafiles:
                write_metafile(case.folder, mine)
    text = table(outcomes, cases) + f"\ntotal: {time.perf_counter() - start:.0f}s (one thread)"
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
