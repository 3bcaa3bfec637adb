"""The ``trainyard`` command: ``train``, ``print-config``, ``demo-data`` and ``list``.

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
    import jobspecs

    try:
        return jobspecs.load(path, cfg_options=cfg_options or None)
    except jobspecs.SpecError as error:
        raise _SpecProblem([str(error)]) from None


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
    }
    for name, reg in registries.items():
        if args.kind not in (None, name):
            continue
        names = reg.list(args.pattern)
        print(f"{name}: {', '.join(names) if names else '(none)'}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="trainyard", description="Train MMClassification-style jobspecs.")
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
                                                     "lr-schedules"), help="one registry (default: all)")
    lister.add_argument("pattern", nargs="?", default="*", help="fnmatch pattern, e.g. 'ResNet*'")
    lister.set_defaults(func=cmd_list)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``trainyard`` console script."""
    args = build_parser().parse_args(argv)
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
