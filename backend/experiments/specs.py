"""What a submitted spec must pass before it is stored: the spec language's checks, the path policy, the
engine's registries, the resources against the operator's maxima, and a sweep section's own rules.

Errors are ``ServiceError`` whose ``errors`` carry file:line:col for each problem (``SpecProblem``).
"""
from dataclasses import dataclass, field

from django.conf import settings

import jobspecs
from jobspecs.contract import ContractError, Problem, spec_facts

from . import spec_paths
from .errors import ServiceError

DEFAULT_RESOURCES = {"num_workers": 2, "cpus_per_worker": 1, "gpus_per_worker": 0, "strategy": "ddp"}


@dataclass
class SpecProblem:
    message: str
    filename: str | None = None
    line: int | None = None
    column: int | None = None
    hint: str | None = None
    extra: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        where = ":".join(str(x) for x in (self.filename, self.line, self.column) if x is not None)
        text = f"{where}: {self.message}" if where else self.message
        if self.hint:
            text += f" — {self.hint}"
        return {"message": self.message, "file": self.filename, "line": self.line, "column": self.column,
                "hint": self.hint, "text": text, **self.extra}


def _problem_from_spec_error(err: jobspecs.SpecError) -> SpecProblem:
    return SpecProblem(err.message, err.filename, err.lineno, err.col, err.hint)


def library_spec_text(name: str) -> str:
    """The text of a library spec, refusing anything that is not one of the listed files."""
    if name not in set(jobspecs.list_library()):
        raise ServiceError(f"No library spec named '{name}'.", errors=[{"field": "spec_name", "message": "unknown"}])
    return (jobspecs.library_dir() / name).read_text()


def resolve_spec(*, spec_text: str | None, spec_name: str | None, cfg_options, user=None,
                 sweep_space: dict | None = None) -> tuple[dict, str]:
    """Load and check a spec the way the submit path does; returns (resolved spec, text).

    Besides the schema and the registries, the path policy (``spec_paths``): every path stays in its area,
    no URL the operator did not allow; with ``user``, each checkpoint the spec names must be one of a run the
    user may read (a sweep's ``sweep_space`` values too).

    Raises ServiceError whose ``errors`` carry file:line:col for each problem.
    """
    if bool(spec_text) == bool(spec_name):
        raise ServiceError("Give either spec_text (a spec to paste) or spec_name (a library spec), not both.")
    opts = normalise_cfg_options(cfg_options)
    allowed_imports = list(settings.TRAINYARD_CUSTOM_IMPORTS_ALLOWLIST)  # the operator's, never the request's
    try:
        if spec_name:
            text = library_spec_text(spec_name)
            spec, positions = jobspecs.load(jobspecs.library_dir() / spec_name, cfg_options=opts, positions=True,
                                            allowed_imports=allowed_imports)
        else:
            text = spec_text
            spec, positions = jobspecs.load_text(spec_text, filename="<spec>", cfg_options=opts, positions=True,
                                                 allowed_imports=allowed_imports)
    except jobspecs.SpecError as err:
        problem = _problem_from_spec_error(err)
        raise ServiceError(f"The spec is not valid: {problem.as_dict()['text']}", errors=[problem.as_dict()]) from None
    _import_custom_modules(spec, positions, allowed_imports)

    problems = [_problem_from_spec_error(e) for e in jobspecs.validate(spec, positions)]
    problems += [SpecProblem(p.message, p.filename, p.line, p.column, p.hint)
                 for p in spec_paths.check_spec(spec, positions, user=user, sweep_space=sweep_space)]
    from workers.registry import check_spec_types  # imports torch: only on the submit path

    for issue in check_spec_types(spec):
        fname, line, col = positions.get(tuple(issue.path) + ("type",), positions.get(tuple(issue.path), (None,) * 3))
        hint = f"did you mean {', '.join(repr(s) for s in issue.suggestions)}?" if issue.suggestions else None
        problems.append(SpecProblem(f"unknown {issue.kind} type '{issue.name}'", fname, line, col, hint))
    if problems:
        first = problems[0].as_dict()["text"]
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise ServiceError(f"The spec is not valid: {first}{more}", errors=[p.as_dict() for p in problems])
    return spec, text


def _import_custom_modules(spec: dict, positions, allowed_imports: list[str]) -> None:
    """Import the spec's ``custom_imports`` (the loader let only the operator's allowlisted modules through; they
    are checked again here), so that the registry check knows the types they register."""
    from workers.custom_imports import CustomImportError, import_custom_modules

    try:
        import_custom_modules(spec, allowed_imports)
    except CustomImportError as err:
        fname, line, col = positions.nearest(("custom_imports", "imports")) or (None, None, None)
        problem = SpecProblem(str(err), fname, line, col, "an operator installs and allowlists the module "
                              "(TRAINYARD_CUSTOM_IMPORTS_ALLOWLIST)")
        raise ServiceError(f"The spec is not valid: {problem.as_dict()['text']}", errors=[problem.as_dict()]) from None


def normalise_cfg_options(cfg_options) -> dict:
    """``cfg_options`` as a dict: an object as given, or ``a.b=value`` strings parsed as ``--cfg-options``."""
    if not cfg_options:
        return {}
    if isinstance(cfg_options, dict):
        return dict(cfg_options)
    if isinstance(cfg_options, (list, tuple)) and all(isinstance(o, str) for o in cfg_options):
        try:
            return jobspecs.parse_cfg_options(list(cfg_options))
        except jobspecs.SpecError as err:
            raise ServiceError(f"Bad cfg_options: {err}") from None
    raise ServiceError("cfg_options must be an object {\"a.b\": value} or a list of \"a.b=value\" strings.")


def resources(spec: dict, requested: dict | None) -> dict:
    """The job's resources: the defaults, then the spec's ``resources``, then what the request asks; checked
    against the schema and the operator's maxima (``RESOURCE_MAXIMA``)."""
    res = dict(DEFAULT_RESOURCES)
    res.update(spec.get("resources") or {})
    res.update(requested or {})
    n = res.get("num_workers")
    if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= settings.TRAINYARD_MAX_NUM_WORKERS:
        raise ServiceError(f"resources.num_workers must be an integer from 1 to {settings.TRAINYARD_MAX_NUM_WORKERS} "
                           f"(TRAINYARD_MAX_NUM_WORKERS), not {n!r}.",
                           errors=[{"field": "resources.num_workers", "setting": "TRAINYARD_MAX_NUM_WORKERS"}])
    for key in ("cpus_per_worker", "gpus_per_worker"):
        v = res.get(key)
        if not isinstance(v, (int, float)) or isinstance(v, bool) or v < 0:
            raise ServiceError(f"resources.{key} must be a number ≥ 0, not {v!r}.")
    _check_maxima(res)
    if res.get("strategy") not in ("ddp", "deepspeed"):
        raise ServiceError(f"resources.strategy must be 'ddp' or 'deepspeed', not {res.get('strategy')!r}.")
    # The merged resources obey the same schema as a spec's own `resources` section.
    problems = [e for e in jobspecs.validate({**spec, "resources": res}) if e.path[:1] == ("resources",)]
    if problems:
        hint = f" — {problems[0].hint}" if problems[0].hint else ""
        raise ServiceError(f"Bad resources: {problems[0].message}{hint}",
                           errors=[{"field": "resources", "message": p.message, "hint": p.hint} for p in problems])
    return res


# resources key -> the setting bounding it (the operator sets them to the cluster's largest node)
RESOURCE_MAXIMA = {"cpus_per_worker": "TRAINYARD_MAX_CPUS_PER_WORKER",
                   "gpus_per_worker": "TRAINYARD_MAX_GPUS_PER_WORKER", "max_failures": "TRAINYARD_MAX_FAILURES"}


def _check_maxima(res: dict) -> None:
    """Refuse resources beyond the operator's maxima, naming the setting (the schema checked the types)."""
    for key, setting in RESOURCE_MAXIMA.items():
        value, most = res.get(key), getattr(settings, setting)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value > most:
            message = (f"resources.{key} is {value}, above this service's maximum of {most:g} ({setting}); "
                       f"ask less, or an operator to raise {setting} if the cluster has room.")
            raise ServiceError(message, errors=[{"field": f"resources.{key}", "message": message,
                                                 "setting": setting}])


def check_sweep(spec: dict) -> dict:
    """The spec's sweep section, normalised; ServiceError with a message per problem otherwise."""
    from workers.distributed import sweep as tune_sweep
    from workers.registry import check_spec_types

    cfg = spec.get("sweep")
    if not cfg:
        raise ServiceError("The spec has no sweep section (sweep = dict(space={...}, metric=..., mode=...)).",
                           errors=[{"field": "sweep", "message": "missing"}])
    try:
        cfg = tune_sweep.normalise(cfg)
    except ValueError as err:
        raise ServiceError(f"Bad sweep: {err}", errors=[{"field": "sweep", "message": str(err)}]) from None
    # PBT's limits and the metric, by the spec's facts (the engine's own metric names)
    try:
        broken = spec_facts(spec).sweep.problems
    except ContractError as err:
        broken = [Problem(".".join(map(str, err.path)), err.message)]
    if broken:
        raise ServiceError(f"Bad sweep: {broken[0].message}",
                           errors=[{"field": broken[0].field, "message": broken[0].message}])
    trials, most = tune_sweep.num_trials(cfg), settings.TRAINYARD_SWEEP_MAX_TRIALS
    if trials > most:
        message = (f"the sweep would run {trials} trials; at most {most} (TRAINYARD_SWEEP_MAX_TRIALS): "
                   f"lower num_samples or the grid")
        raise ServiceError(f"Bad sweep: {message}", errors=[{"field": "sweep.num_samples", "message": message,
                                                             "setting": "TRAINYARD_SWEEP_MAX_TRIALS"}])
    concurrent, most = cfg.get("max_concurrent_trials"), settings.TRAINYARD_SWEEP_MAX_CONCURRENT_TRIALS
    if isinstance(concurrent, int) and concurrent > most:
        message = (f"sweep.max_concurrent_trials is {concurrent}; at most {most} "
                   f"(TRAINYARD_SWEEP_MAX_CONCURRENT_TRIALS; an operator may raise it)")
        raise ServiceError(f"Bad sweep: {message}", errors=[{
            "field": "sweep.max_concurrent_trials", "message": message,
            "setting": "TRAINYARD_SWEEP_MAX_CONCURRENT_TRIALS"}])
    # A trial's spec must be valid too: try one value of every domain.
    probe = tune_sweep.apply_params(spec, tune_sweep.probe_params(cfg["space"]))
    problems = [e.message for e in jobspecs.validate(probe)]
    problems += [f"unknown {i.kind} type '{i.name}'" for i in check_spec_types(probe)]
    if problems:
        message = f"a trial's spec would not be valid: {problems[0]}"
        raise ServiceError(f"Bad sweep: {message}", errors=[{"field": "sweep.space", "message": p} for p in problems])
    return cfg
