"""``trainyard export torchserve``: a TorchServe model archive (``.mar``), as MMCls's
``tools/deployment/mmcls2torchserve.py`` writes one (seed chapter 50).

The archive is packed by ``torch-model-archiver`` (TorchServe's own packer) and holds the checkpoint (its
serialized file), the resolved spec as ``spec.py`` (``jobspecs.dumps``) and :mod:`workers.export.torchserve_handler`, which
answers each image with ``{"pred_label", "pred_score", "pred_class"}``.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from pathlib import Path

__all__ = ["build_torchserve_archive"]

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_\-.]*$")  # torch-model-archiver's rule for model names


def build_torchserve_archive(spec: dict, checkpoint: str | Path, out_dir: str | Path, *, model_name: str | None = None,
                             model_version: str = "1.0", force: bool = False) -> Path:
    """Pack ``checkpoint`` and ``spec`` into ``out_dir/<model_name>.mar``.

    Args:
        spec: The resolved spec (must have ``model`` and ``data.test.pipeline``: the handler runs it).
        checkpoint: The checkpoint file.
        out_dir: The model store folder (created if missing).
        model_name: The name TorchServe serves it under (default: the checkpoint's file stem).
        model_version: The archive's version.
        force: Overwrite an existing archive of the same name.

    Returns:
        The ``.mar`` file.

    Raises:
        FileExistsError: The archive exists and ``force`` is not set.
        ValueError: A bad model name, or a spec the handler cannot run.
    """
    try:
        from model_archiver.model_archiver_config import ModelArchiverConfig
        from model_archiver.model_packaging import package_model
        from model_archiver.model_packaging_utils import ModelExportUtils
    except ImportError:
        raise RuntimeError("a TorchServe archive needs torch-model-archiver (pip install torch-model-archiver)") from None

    import jobspecs
    from workers.export.torchserve_handler import SPEC_FILE

    checkpoint = Path(checkpoint)
    model_name = model_name or checkpoint.stem
    if not _NAME.match(model_name):
        raise ValueError(f"--model-name {model_name!r}: use letters, digits, '_', '-' and '.', starting with a "
                         "letter or digit")
    if "model" not in spec:
        raise ValueError("the spec has no 'model'")
    if not (spec.get("data") or {}).get("test", {}).get("pipeline"):
        raise ValueError("the spec has no data.test.pipeline: the handler needs it to prepare each image")
    out_dir = Path(out_dir).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / f"{model_name}.mar"
    if target.exists() and not force:
        raise FileExistsError(f"{target} exists; pass --force to overwrite it")
    handler = Path(__file__).with_name("torchserve_handler.py")
    with tempfile.TemporaryDirectory(prefix="trainyard-mar-") as folder:
        spec_file = Path(folder) / SPEC_FILE
        spec_file.write_text(jobspecs.dumps(spec, format="py"))  # tuples stay tuples; read back, never run
        config = ModelArchiverConfig(model_name=model_name, handler=str(handler), version=str(model_version),
                                     serialized_file=str(checkpoint), extra_files=str(spec_file),
                                     export_path=str(out_dir), force=force, runtime="python",
                                     archive_format="default")
        # the packer stages files in $TMPDIR/<model_name>: a private TMPDIR keeps two packers apart
        staging = Path(folder) / "staging"
        staging.mkdir()
        previous = tempfile.tempdir
        tempfile.tempdir = str(staging)
        try:
            package_model(config, manifest=ModelExportUtils.generate_manifest_json(config))
        finally:
            tempfile.tempdir = previous
            shutil.rmtree(staging, ignore_errors=True)
    return target
