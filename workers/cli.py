"""The ``trainyard`` command: ``train``, ``test``, ``infer``, ``vis-lr``, ``print-config``, ``demo-data``,
``list``, ``flops``, ``reparam`` and ``export``; ``vis-cam``, the seed's analysis tools (``analyze-logs``,
``eval-metric``, ``analyze-results``, ``confusion-matrix``, ``vis-pipeline``, ``verify-dataset``,
``publish-model``: one module each under ``workers/tools``) and ``remote`` add their own parsers.

Specs are loaded with ``jobspecs.load`` (never executed). Problems in a spec print one clear message
per problem and exit with status 2; other failures print ``error: ...`` and exit with 1
(``TRAINYARD_DEBUG=1`` shows the traceback).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

__all__ = ["main"]

EXIT_SPEC_ERROR = 2


class _SpecProblem(Exception):
    """One or more problems in the spec, already worded for the user."""

    def __init__(self, messages: list[str]):
        super().__init__("\n".join(messages))
        self.messages = messages


def _load_spec(path: str, cfg_options: list[str] | None) -> dict:
    """A config of this machine, as MMCls's ``Config.fromfile`` reads it: ``_base_`` anywhere in the user's
    tree (``jobspecs.load_user_config``), then its ``custom_imports`` imported (those on the allowlist:
    ``TRAINYARD_CUSTOM_IMPORTS_ALLOWLIST`` and ``--allow-import``)."""
    import jobspecs
    from workers.custom_imports import CustomImportError, import_custom_modules

    try:
        spec = jobspecs.load_user_config(path, cfg_options=cfg_options or None)
        import_custom_modules(spec)
    except jobspecs.SpecError as error:
        messages = [str(error)]
        if error.message.startswith("custom import "):
            messages.append("on your own machine, allow a module with --allow-import MODULE (or pkg.* for a package)")
        raise _SpecProblem(messages) from None
    except CustomImportError as error:
        raise _SpecProblem([str(error)]) from None
    return spec


def _check_spec(spec: dict) -> None:
    import jobspecs
    from workers.registry import check_spec_types

    problems = [str(error) for error in jobspecs.validate(spec)]
    problems += [issue.message for issue in check_spec_types(spec)]
    if problems:
        raise _SpecProblem(problems)


def _default_work_dir(spec_path: str, spec: dict) -> Path:
    if spec.get("work_dir"):
        return Path(spec["work_dir"])
    return Path("work_dirs") / Path(spec_path).stem


def cmd_train(args: argparse.Namespace) -> int:
    spec = _load_spec(args.spec, args.cfg_options)
    _check_spec(spec)
    from workers.engine import train

    work_dir = Path(args.work_dir) if args.work_dir else _default_work_dir(args.spec, spec)
    best = train(
        spec,
        work_dir,
        device=args.device,
        resume_from=args.resume_from,
        load_from=args.load_from,
        validate=not args.no_validate,
        seed=args.seed,
        deterministic=args.deterministic,
        data_root=args.data_root,
        progress=sys.stderr.isatty(),
    )
    if best:
        shown = ", ".join(f"{k}: {v:.4f}" if isinstance(v, float) else f"{k}: {v}" for k, v in best.items())
        print(f"best: {shown}")
    print(f"work dir: {work_dir}")
    return 0


def _metric_options(pairs: list[str] | None) -> dict:
    """``KEY=VALUE`` pairs as mmcv's ``DictAction`` reads them (``topk=1,5`` -> ``[1, 5]``)."""
    import jobspecs

    if not pairs:
        return {}
    for pair in pairs:
        if "=" not in pair:
            raise _SpecProblem([f"--metric-options takes KEY=VALUE pairs, got {pair!r}"])
    options = jobspecs.parse_cfg_options(pairs)
    # tuples are what MMCls's metrics take for lists of k / thresholds
    return {k: tuple(v) if isinstance(v, list) else v for k, v in options.items()}


def cmd_test(args: argparse.Namespace) -> int:
    spec = _load_spec(args.spec, args.cfg_options)
    _check_spec(spec)
    if not Path(args.checkpoint).is_file():
        raise FileNotFoundError(f"checkpoint not found: {args.checkpoint}")
    from workers.tools import dump_results, score_checkpoint

    if Path(args.checkpoint).suffix.lower() == ".onnx":
        print(f"scoring {args.checkpoint} with ONNX Runtime", file=sys.stderr)
    metric_options = _metric_options(args.metric_options)
    results = score_checkpoint(spec, args.checkpoint, metrics=args.metrics, metric_options=metric_options or None,
                               out_items=args.out_items, device=args.device, data_root=args.data_root,
                               progress=sys.stderr.isatty())
    from workers.tools import OUT_ITEMS

    for key, value in results.items():  # tools/test.py's print-out: metrics rounded to 2 decimals
        if key in OUT_ITEMS:
            continue
        shown = [round(v, 2) for v in value.tolist()] if hasattr(value, "tolist") else round(float(value), 2)
        print(f"{key} : {shown}")
    if args.out:
        path = dump_results(results, args.out)
        print(f"writing results to {path}")
    return 0


def cmd_infer(args: argparse.Namespace) -> int:
    import json

    if not Path(args.image).is_file():
        raise FileNotFoundError(f"image not found: {args.image}")
    if not Path(args.checkpoint).is_file():
        raise FileNotFoundError(f"checkpoint not found: {args.checkpoint}")
    spec = _load_spec(args.spec, args.cfg_options)
    from workers.apis import inference_model, init_model
    from workers.engine.dist import resolve_device

    model = init_model(spec, args.checkpoint, device=resolve_device(args.device))
    print(json.dumps(inference_model(model, args.image)))
    return 0


def cmd_vis_lr(args: argparse.Namespace) -> int:
    import json

    spec = _load_spec(args.spec, args.cfg_options)
    from workers.tools import lr_curve

    curve = lr_curve(spec, dataset_size=args.dataset_size, ngpus=args.ngpus, data_root=args.data_root,
                     progress=sys.stderr.isatty())
    if args.format == "json":
        text = json.dumps(curve)
    elif args.format == "text":
        momenta = curve["momentum"] or [None] * len(curve["lr"])
        lines = ["iter\tepoch\tlr\tmomentum"]
        for i, (lr, momentum) in enumerate(zip(curve["lr"], momenta, strict=True)):
            shown = "-" if momentum is None else f"{momentum:.6g}"
            lines.append(f"{i + 1}\t{i // curve['iters_per_epoch'] + 1}\t{lr:.6g}\t{shown}")
        text = "\n".join(lines)
    else:
        return _plot_lr(curve, args)
    if args.save_path:
        Path(args.save_path).write_text(text + "\n")
        print(f"learning rate curve saved to {args.save_path}")
    else:
        print(text)
    return 0


def _plot_lr(curve: dict, args: argparse.Namespace) -> int:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise RuntimeError("--format png needs matplotlib (pip install matplotlib); use --format json or text") from None
    if not args.save_path:
        raise ValueError("--format png needs --save-path")
    fig, ax = plt.subplots(figsize=(12, 7))
    ax.plot(range(1, len(curve["lr"]) + 1), curve["lr"])
    ax.set_xlabel("Iters")
    ax.set_ylabel("Learning Rate")
    ax.set_title(args.title or Path(args.spec).stem)
    fig.savefig(args.save_path)
    print(f"learning rate curve saved to {args.save_path}")
    return 0


def cmd_print_config(args: argparse.Namespace) -> int:
    import jobspecs

    spec = _load_spec(args.spec, args.cfg_options)
    sys.stdout.write(jobspecs.dumps(spec, format=args.format))
    return 0


def cmd_demo_data(args: argparse.Namespace) -> int:
    from workers.data.demo import write_digits_dataset

    counts = write_digits_dataset(args.root, val_fraction=args.val_fraction, seed=args.seed, size=args.size)
    print(f"digits written to {args.root}: {counts['train']} train, {counts['val']} val images, "
          f"{counts['classes']} classes")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from workers import registry

    registry.ensure_registered()
    registries = {
        "models": registry.MODELS, "datasets": registry.DATASETS, "transforms": registry.TRANSFORMS,
        "hooks": registry.HOOKS, "optimizers": registry.OPTIMIZERS, "lr-schedules": registry.LR_SCHEDULES,
        "momentum-schedules": registry.MOMENTUM_SCHEDULES, "runners": registry.RUNNERS,
    }
    for name, reg in registries.items():
        if args.kind not in (None, name):
            continue
        names = reg.list(args.pattern)
        print(f"{name}: {', '.join(names) if names else '(none)'}")
    return 0


def _load_spec_or_library(spec: str) -> dict:
    """A spec file if ``spec`` is a path, else a library spec name (``resnet/resnet50_8xb32_in1k.py``)."""
    import jobspecs

    if Path(spec).is_file():
        return _load_spec(spec, None)
    try:
        return jobspecs.load_library(spec)
    except jobspecs.SpecError as error:
        raise _SpecProblem([str(error)]) from None


def cmd_flops(args: argparse.Namespace) -> int:
    """MMCls's ``tools/analysis_tools/get_flops.py`` (seed 3.4.1): FLOPs and params of a spec's model."""
    import json

    from workers.models.complexity import (
        build_meta_model,
        count_params,
        format_complexity,
        get_model_complexity_info,
    )

    if len(args.shape) == 1:
        input_shape = (3, args.shape[0], args.shape[0])
    elif len(args.shape) == 2:
        input_shape = (3, *args.shape)
    else:
        raise ValueError(f"--shape takes H or H W, got {len(args.shape)} values")
    spec = _load_spec_or_library(args.spec)
    if "model" not in spec:
        raise _SpecProblem([f"{args.spec}: the spec has no 'model'"])
    model = build_meta_model(spec["model"])
    if args.params_only:
        params = count_params(model)
        result = {"params": params}
        text = format_complexity(0, params, input_shape).splitlines()[-1]
    else:
        flops, params = get_model_complexity_info(model, input_shape)
        result = {"input_shape": list(input_shape), "flops": flops, "params": params}
        text = format_complexity(flops, params, input_shape)
    if args.format == "json":
        print(json.dumps(result))
    else:
        line = "=" * 30
        print(f"{line}\n{text}\n{line}")
    return 0


def cmd_reparam(args: argparse.Namespace) -> int:
    """MMCls's ``tools/convert_models/reparameterize_model.py``: a training-time RepVGG/RepMLP checkpoint
    re-parameterised into its inference-time structure, loadable by the spec with ``deploy=True``."""
    import copy

    from workers.engine.checkpoint import load_checkpoint, save_checkpoint
    from workers.models import build_model, load_weights

    spec = _load_spec_or_library(args.spec)
    if "model" not in spec:
        raise _SpecProblem([f"{args.spec}: the spec has no 'model'"])
    if not Path(args.checkpoint).is_file():
        raise FileNotFoundError(f"checkpoint not found: {args.checkpoint}")
    model = build_model(copy.deepcopy(spec["model"]))
    if not callable(getattr(model, "switch_to_deploy", None)):
        raise ValueError(f"{type(model).__name__} cannot be re-parameterised (no switch_to_deploy)")
    state = load_checkpoint(args.checkpoint)
    missing, unexpected = load_weights(model, state, strict=False)
    if missing or unexpected:
        raise ValueError(f"the checkpoint does not fit the spec's model: {len(missing)} missing and "
                         f"{len(unexpected)} unexpected keys (is it already re-parameterised?)")
    model.eval()
    model.switch_to_deploy()
    meta = dict(state.get("meta") or {})
    deploy_spec = copy.deepcopy(meta.get("spec") or spec)
    deploy_spec.setdefault("model", {}).setdefault("backbone", {})["deploy"] = True
    meta.update(spec=deploy_spec, deploy=True, reparameterized_from=str(args.checkpoint))
    save_checkpoint(args.out, model, None, meta, link_latest=False)
    print(f"re-parameterised model saved to {args.out}")
    return 0


def _load_export_spec(spec: str, cfg_options: list[str] | None) -> dict:
    """A spec file, or a library spec name, with ``--cfg-options`` applied."""
    import jobspecs

    if Path(spec).is_file():
        loaded = _load_spec(spec, cfg_options)
    else:
        try:
            loaded = jobspecs.load_library(spec, cfg_options=cfg_options or None)
        except jobspecs.SpecError as error:
            raise _SpecProblem([str(error)]) from None
    if "model" not in loaded:
        raise _SpecProblem([f"{spec}: the spec has no 'model'"])
    return loaded


def _input_shape(shape: list[int], channels: int) -> tuple[int, int, int, int]:
    if len(shape) == 1:
        return (1, channels, shape[0], shape[0])
    if len(shape) == 2:
        return (1, channels, *shape)
    raise ValueError(f"--shape takes H or H W, got {len(shape)} values")


def cmd_export(args: argparse.Namespace) -> int:
    """MMCls's ``tools/deployment/pytorch2onnx.py``, ``pytorch2torchscript.py`` and ``mmcls2torchserve.py``."""
    spec = _load_export_spec(args.spec, args.cfg_options)
    if not Path(args.checkpoint).is_file():
        raise FileNotFoundError(f"checkpoint not found: {args.checkpoint}")
    if args.format == "torchserve":
        from workers.export import build_torchserve_archive

        print(f"packing {args.checkpoint} into a TorchServe archive ...", file=sys.stderr)
        path = build_torchserve_archive(spec, args.checkpoint, args.out, model_name=args.model_name,
                                        model_version=args.model_version, force=args.force)
        print(f"TorchServe archive saved to {path}")
        print(f"serve it: torchserve --start --model-store {path.parent} --models {path.stem}={path.name}; "
              f"then: curl http://127.0.0.1:8080/predictions/{path.stem} -T IMAGE")
        return 0

    from workers.export import ATOL, RTOL, export_onnx, export_torchscript, input_channels, load_export_model

    model, classes = load_export_model(spec, args.checkpoint)
    shape = _input_shape(args.shape, input_channels(model))
    name = type(model.classifier.backbone).__name__ if hasattr(model.classifier, "backbone") else "model"
    shown = "x".join(map(str, shape))
    if args.format == "onnx":
        if args.simplify:
            try:
                import onnxsim  # noqa: F401
            except ImportError:
                raise RuntimeError("--simplify needs onnxsim (pip install onnxsim); export without --simplify") from None
        dynamic = ", dynamic batch/height/width" if args.dynamic_export else ""
        print(f"exporting {name} to ONNX (opset {args.opset_version}, input {shown}{dynamic}) ...", file=sys.stderr)
        result = export_onnx(model, args.out, shape, opset_version=args.opset_version,
                             dynamic_export=args.dynamic_export, simplify=args.simplify, verify=args.verify,
                             classes=classes, show=args.show)
        print(f"ONNX model saved to {result['path']} ({result['nodes']} nodes"
              f"{', simplified' if args.simplify else ''})")
        runtime = "ONNX Runtime"
    else:
        print(f"tracing {name} to TorchScript (input {shown}) ...", file=sys.stderr)
        result = export_torchscript(model, args.out, shape, verify=args.verify, classes=classes)
        print(f"TorchScript model saved to {result['path']}")
        runtime = "the TorchScript module"
    if args.verify:
        print(f"verified: {runtime} agrees with PyTorch (largest absolute difference {result['max_abs_diff']:.3g}, "
              f"tolerance {ATOL:g} + {RTOL:g} x |score|)")
    return 0


# workers.export.DEFAULT_OPSET (the seed's pytorch2onnx.py default), written here so that building the parser
# does not import torch (`trainyard remote ...` is a plain HTTP client); a test keeps the two equal
DEFAULT_OPSET = 11


def _add_export_parser(sub) -> None:
    export = sub.add_parser("export", help="a checkpoint as ONNX, TorchScript or a TorchServe archive",
                            description="Export a checkpoint for deployment (MMCls tools/deployment). The graph "
                                        "is the model's inference form: normalised images in, class scores "
                                        "(softmax) out; RepVGG/RepMLP export their deploy form.")
    formats = export.add_subparsers(dest="format", required=True, metavar="FORMAT")

    def common(parser, out_help):
        parser.add_argument("spec", help="the spec file (or a library spec name)")
        parser.add_argument("checkpoint", help="the checkpoint file")
        parser.add_argument("out", help=out_help)
        parser.add_argument("--cfg-options", nargs="+", metavar="KEY=VALUE", help="override spec keys")

    onnx = formats.add_parser("onnx", help="an ONNX file (MMCls pytorch2onnx.py)")
    common(onnx, "the .onnx file to write")
    onnx.add_argument("--shape", type=int, nargs="+", default=[224, 224], metavar="H [W]",
                      help="input height and width (default: 224 224)")
    onnx.add_argument("--opset-version", type=int, default=DEFAULT_OPSET,
                      help=f"ONNX opset (default: {DEFAULT_OPSET})")
    onnx.add_argument("--dynamic-export", action="store_true", help="dynamic batch size, height and width")
    onnx.add_argument("--simplify", action="store_true", help="simplify the graph with onnxsim")
    onnx.add_argument("--verify", action="store_true",
                      help="run it with ONNX Runtime beside PyTorch on a random input; fail if they disagree")
    onnx.add_argument("--show", action="store_true", help="print the exported graph")
    onnx.set_defaults(func=cmd_export)

    script = formats.add_parser("torchscript", help="a traced TorchScript module (MMCls pytorch2torchscript.py)")
    common(script, "the .pt file to write")
    script.add_argument("--shape", type=int, nargs="+", default=[224, 224], metavar="H [W]",
                        help="input height and width (default: 224 224)")
    script.add_argument("--verify", action="store_true",
                        help="run the saved module beside PyTorch on a random input; fail if they disagree")
    script.set_defaults(func=cmd_export)

    serve = formats.add_parser("torchserve", help="a TorchServe .mar archive (MMCls mmcls2torchserve.py)")
    common(serve, "the model store folder the .mar goes into")
    serve.add_argument("--model-name", help="the name it is served under (default: the checkpoint's file name)")
    serve.add_argument("--model-version", default="1.0", help="the archive's version (default: 1.0)")
    serve.add_argument("-f", "--force", action="store_true", help="overwrite an existing archive of that name")
    serve.set_defaults(func=cmd_export)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="trainyard", description="Train MMClassification-style jobspecs.")
    allow_help = ("allow a spec's custom_imports to import MODULE (pkg.mod, or pkg.* for a package and its "
                  "submodules), besides TRAINYARD_CUSTOM_IMPORTS_ALLOWLIST; repeatable")
    parser.add_argument("--allow-import", action="append", default=[], metavar="MODULE", help=allow_help)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    train = sub.add_parser("train", help="train a spec on this machine")
    train.add_argument("spec", help="the spec file")
    train.add_argument("--work-dir", help="logs and checkpoints (default: work_dirs/<spec name>)")
    train.add_argument("--cfg-options", nargs="+", metavar="KEY=VALUE", help="override spec keys, e.g. runner.max_epochs=2")
    train.add_argument("--resume-from", help="checkpoint to continue, or 'auto' for the work dir's latest")
    train.add_argument("--load-from", help="checkpoint whose weights start the run")
    train.add_argument("--seed", type=int, help="random seed")
    train.add_argument("--deterministic", action="store_true", help="deterministic cuDNN kernels")
    train.add_argument("--device", default="cpu", help="cpu or cuda (default: cpu)")
    train.add_argument("--no-validate", action="store_true", help="do not evaluate during training")
    train.add_argument("--data-root", help="folder relative data paths are resolved against (default: .)")
    train.set_defaults(func=cmd_train)

    test = sub.add_parser("test", help="score a checkpoint (or an exported .onnx) on the spec's data.test "
                                       "(MMCls tools/test.py, deployment/test.py)")
    test.add_argument("spec", help="the spec file")
    test.add_argument("checkpoint", help="the checkpoint file, or an .onnx from `trainyard export onnx` "
                                         "(run with ONNX Runtime)")
    test.add_argument("--metrics", nargs="+", help="e.g. accuracy precision recall f1_score support")
    test.add_argument("--metric-options", nargs="+", metavar="KEY=VALUE", help="e.g. topk=1,5 thrs=0.5")
    test.add_argument("--out", help="write results to FILE.json, .pkl or .yaml")
    test.add_argument("--out-items", nargs="+", default=["all"], metavar="ITEM",
                      help="what --out holds: all (default), none, class_scores, pred_score, pred_label, pred_class")
    test.add_argument("--device", default="cpu", help="cpu or cuda (default: cpu)")
    test.add_argument("--cfg-options", nargs="+", metavar="KEY=VALUE", help="override spec keys")
    test.add_argument("--data-root", help="folder relative data paths are resolved against (default: .)")
    test.set_defaults(func=cmd_test)

    infer = sub.add_parser("infer", help="classify one image; prints pred_label, pred_score, pred_class as JSON")
    infer.add_argument("image", help="the image file")
    infer.add_argument("spec", help="the spec file")
    infer.add_argument("checkpoint", help="the checkpoint file")
    infer.add_argument("--device", default="cpu", help="cpu or cuda (default: cpu)")
    infer.add_argument("--cfg-options", nargs="+", metavar="KEY=VALUE", help="override spec keys")
    infer.set_defaults(func=cmd_infer)

    vis = sub.add_parser("vis-lr", help="the lr (and momentum) of every iteration of a spec's schedule")
    vis.add_argument("spec", help="the spec file")
    vis.add_argument("--dataset-size", type=int, help="training samples (default: count data.train)")
    vis.add_argument("--ngpus", type=int, default=1, help="GPUs the run uses (default: 1)")
    vis.add_argument("--save-path", help="write the output here instead of stdout")
    vis.add_argument("--format", choices=("json", "text", "png"), default="json",
                     help="json (default), text, or png (needs matplotlib and --save-path)")
    vis.add_argument("--title", help="plot title (png; default: the spec's name)")
    vis.add_argument("--cfg-options", nargs="+", metavar="KEY=VALUE", help="override spec keys")
    vis.add_argument("--data-root", help="folder relative data paths are resolved against (default: .)")
    vis.set_defaults(func=cmd_vis_lr)

    show = sub.add_parser("print-config", help="print the resolved spec")
    show.add_argument("spec", help="the spec file")
    show.add_argument("--cfg-options", nargs="+", metavar="KEY=VALUE", help="override spec keys")
    show.add_argument("--format", choices=("py", "json"), default="py", help="output format (default: py)")
    show.set_defaults(func=cmd_print_config)

    demo = sub.add_parser("demo-data", help="write the handwritten-digits demo dataset")
    demo.add_argument("root", help="output folder, e.g. data/digits")
    demo.add_argument("--val-fraction", type=float, default=0.2, help="share held out for val (default: 0.2)")
    demo.add_argument("--seed", type=int, default=0, help="seed of the split (default: 0)")
    demo.add_argument("--size", type=int, default=None, help="image side in pixels (default: 16)")
    demo.set_defaults(func=cmd_demo_data)

    lister = sub.add_parser("list", help="list registered type names")
    lister.add_argument("kind", nargs="?", choices=("models", "datasets", "transforms", "hooks", "optimizers",
                                                     "lr-schedules", "momentum-schedules", "runners"),
                        help="one registry (default: all)")
    lister.add_argument("pattern", nargs="?", default="*", help="fnmatch pattern, e.g. 'ResNet*'")
    lister.set_defaults(func=cmd_list)

    flops = sub.add_parser("flops", help="FLOPs and params of a spec's model (MMCls get_flops.py)")
    flops.add_argument("spec", help="a spec file or a library spec name, e.g. resnet/resnet50_8xb32_in1k.py")
    flops.add_argument("--shape", type=int, nargs="+", default=[224, 224], metavar="H [W]",
                       help="input size (default: 224 224)")
    flops.add_argument("--format", choices=("text", "json"), default="text", help="output format (default: text)")
    flops.add_argument("--params-only", action="store_true", help="count the parameters only, no forward pass")
    flops.set_defaults(func=cmd_flops)

    reparam = sub.add_parser("reparam", help="re-parameterise a RepVGG/RepMLP checkpoint for deployment")
    reparam.add_argument("spec", help="the training-time spec (file or library name)")
    reparam.add_argument("checkpoint", help="the training-time checkpoint")
    reparam.add_argument("out", help="where to write the deploy checkpoint")
    reparam.set_defaults(func=cmd_reparam)
    _add_export_parser(sub)
    from workers.tools import vis_cam  # `trainyard vis-cam`: class activation maps

    vis_cam.add_parser(sub)
    # the seed's analysis tools (MMCls tools/analysis_tools, visualizations, misc, convert_models)
    from workers.tools import (
        analyze_logs,
        analyze_results,
        confusion_matrix,
        eval_metric,
        publish_model,
        verify_dataset,
        vis_pipeline,
    )

    for tool in (analyze_logs, eval_metric, analyze_results, confusion_matrix, vis_pipeline, verify_dataset,
                 publish_model):
        tool.add_parser(sub)
    from workers import remote  # `trainyard remote ...`: a client of a Trainyard server (HTTP only)

    remote.add_parser(sub)
    for command in sub.choices.values():  # also after the command: `trainyard train x.py --allow-import pkg`
        command.add_argument("--allow-import", action="append", default=argparse.SUPPRESS, metavar="MODULE",
                             help=allow_help)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``trainyard`` console script."""
    args = build_parser().parse_args(argv)
    if args.allow_import:
        from workers.custom_imports import allow_imports

        allow_imports(args.allow_import)
    try:
        return args.func(args)
    except _SpecProblem as problem:
        for message in problem.messages:
            print(f"spec error: {message}", file=sys.stderr)
        return EXIT_SPEC_ERROR
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as error:
        if os.environ.get("TRAINYARD_DEBUG"):
            raise
        print(f"error: {type(error).__name__}: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
