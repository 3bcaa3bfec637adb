"""``trainyard publish-model IN OUT``: MMCls 0.25's ``tools/convert_models/publish_model.py`` (seed 3.4.2).

The checkpoint loses its optimizer state (and the other training-only entries: a loss scaler, DeepSpeed's
state), its tensors move to the CPU, and it is saved as ``<OUT without .pth>_<YYYYMMDD>-<sha256[:8]>.pth``,
the hash being the first 8 hex digits of the written file's SHA-256, as the seed names it
(``imagenet_resnet50_20220101-fbbb1da6.pth``). The input is read with ``weights_only`` (a checkpoint from
someone else runs no code).

    trainyard publish-model work_dirs/demo/latest.pth digits_resnet18.pth
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
from pathlib import Path

__all__ = ["TRAINING_ONLY_KEYS", "add_parser", "publish_checkpoint", "sha256_of"]

# what a checkpoint holds only to continue training
TRAINING_ONLY_KEYS = ("optimizer", "loss_scaler", "amp", "deepspeed")


def sha256_of(path: str | Path) -> str:
    """The file's SHA-256 as hex (``sha256sum``'s first field)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _to_cpu(value):
    import torch

    if isinstance(value, torch.Tensor):
        return value.detach().cpu()
    if isinstance(value, dict):
        return type(value)((k, _to_cpu(v)) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return type(value)(_to_cpu(v) for v in value)
    return value


def publish_checkpoint(in_file: str | Path, out_file: str | Path, *, date: str | None = None) -> Path:
    """Write the published copy of ``in_file`` and return its final path.

    Args:
        in_file: A checkpoint written by the engine (or MMCls).
        out_file: The name to publish under; ``.pth`` is stripped before the date and hash are added.
        date: ``YYYYMMDD`` in the name (default: today).

    Raises:
        FileNotFoundError: ``in_file`` does not exist.
        ValueError: ``in_file`` holds no weights (no ``state_dict``).
    """
    import torch

    from workers.engine.checkpoint import load_checkpoint

    in_file, out_file = Path(in_file), Path(out_file)
    if not in_file.is_file():
        raise FileNotFoundError(f"checkpoint not found: {in_file}")
    checkpoint = load_checkpoint(in_file)
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint:
        raise ValueError(f"{in_file} is not a checkpoint with a 'state_dict'")
    published = {k: _to_cpu(v) for k, v in checkpoint.items() if k not in TRAINING_ONLY_KEYS}
    out_file.parent.mkdir(parents=True, exist_ok=True)  # the seed's #463: an OUT whose folder is missing
    stem = out_file.name.removesuffix(".pth")
    tmp = out_file.with_name(f".{stem}.publishing")
    torch.save(published, tmp)
    final = out_file.with_name(f"{stem}_{date or datetime.date.today().strftime('%Y%m%d')}-{sha256_of(tmp)[:8]}.pth")
    tmp.replace(final)
    return final


def _run(args: argparse.Namespace) -> int:
    final = publish_checkpoint(args.in_file, args.out_file)
    print(f"Successfully generated the publish-ckpt as {final}.")
    return 0


def add_parser(sub) -> argparse.ArgumentParser:
    """``trainyard publish-model IN OUT``."""
    parser = sub.add_parser("publish-model", help="a checkpoint without its optimizer, named with its hash "
                                                  "(MMCls publish_model.py)")
    parser.add_argument("in_file", help="the checkpoint to publish")
    parser.add_argument("out_file", help="the name to publish under, e.g. digits_resnet18.pth "
                                         "(written as digits_resnet18_<date>-<sha256[:8]>.pth)")
    parser.set_defaults(func=_run)
    return parser
