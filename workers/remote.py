"""``trainyard remote``: submit, watch and cancel runs on a Trainyard server over its REST API.

``login`` stores the server URL and a personal API token in ``~/.config/trainyard/remote.json``
(mode 0600; ``$XDG_CONFIG_HOME`` is honoured); ``TRAINYARD_URL`` / ``TRAINYARD_TOKEN`` override it,
which suits CI. Every failure is one line on stderr (``error: ...``) and a non-zero exit: 1 for a
failed request or a run that did not succeed, 2 for a spec the server rejected (with file:line:col
for each problem, like ``trainyard train``), 3 for missing credentials.

This module talks HTTP only (``requests``): the engine side never imports Django.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

__all__ = ["add_parser", "RemoteError", "Client", "config_path"]

TERMINAL = ("succeeded", "failed", "cancelled")
EXIT_FAILED, EXIT_SPEC_ERROR, EXIT_NO_LOGIN = 1, 2, 3


class RemoteError(Exception):
    """A request that did not work, worded for the user; ``exit_code`` is what the command returns."""

    def __init__(self, message: str, exit_code: int = EXIT_FAILED, details: list[str] | None = None):
        super().__init__(message)
        self.exit_code = exit_code
        self.details = details or []


def config_path() -> Path:
    """Where ``login`` keeps the server URL and token."""
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "trainyard" / "remote.json"


def load_credentials() -> tuple[str, str]:
    """``(url, token)`` from the environment, else from the login file.

    Raises:
        RemoteError: Neither says where the server is, or what the token is.
    """
    stored = {}
    path = config_path()
    if path.is_file():
        try:
            stored = json.loads(path.read_text())
        except ValueError:
            raise RemoteError(f"{path} is not valid JSON: run `trainyard remote login` again", EXIT_NO_LOGIN) from None
    url = os.environ.get("TRAINYARD_URL") or stored.get("url")
    token = os.environ.get("TRAINYARD_TOKEN") or stored.get("token")
    if not url or not token:
        raise RemoteError("not logged in: run `trainyard remote login URL` or set TRAINYARD_URL and "
                          "TRAINYARD_TOKEN", EXIT_NO_LOGIN)
    return url.rstrip("/"), token


class Client:
    """A thin client of the REST API with the token in every request.

    Args:
        url: The server, e.g. ``http://127.0.0.1:8000``.
        token: A personal API token (``ty_...``).
        timeout: Seconds to wait for one request.
    """

    def __init__(self, url: str, token: str, timeout: float = 30.0):
        import requests

        self.url = url.rstrip("/")
        self.timeout = timeout
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {token}"
        self.session.headers["Accept"] = "application/json"

    def request(self, method: str, path: str, **kw):
        import requests

        try:
            r = self.session.request(method, self.url + path, timeout=self.timeout, **kw)
        except requests.ConnectionError:
            raise RemoteError(f"cannot reach {self.url} (is the server running? is TRAINYARD_URL right?)") from None
        except requests.Timeout:
            raise RemoteError(f"{self.url} did not answer within {self.timeout:g} s") from None
        if r.status_code >= 400:
            raise _error_of(r)
        return r.json() if r.content else None

    def get(self, path: str, **params):
        return self.request("GET", path, params={k: v for k, v in params.items() if v is not None})

    def post(self, path: str, body: dict | None = None):
        return self.request("POST", path, json=body or {})


def _error_of(response) -> RemoteError:
    try:
        body = response.json()
    except ValueError:
        body = {}
    detail = body.get("detail") if isinstance(body, dict) else None
    if response.status_code == 401:
        return RemoteError(f"the server refused the token ({detail or 'unauthorized'}): run "
                           "`trainyard remote login` with a valid one", EXIT_NO_LOGIN)
    if response.status_code == 404:
        return RemoteError(detail or "not found (or not in your teams)")
    if response.status_code == 403:
        return RemoteError(detail or "forbidden")
    if response.status_code == 400 and isinstance(body, dict):
        problems = [e.get("text") or e.get("message") for e in body.get("errors") or [] if isinstance(e, dict)]
        if not detail:  # field errors of a serializer: {"dataset": ["This field is required."]}
            problems = [f"{k}: {' '.join(map(str, v)) if isinstance(v, list) else v}" for k, v in body.items()]
            detail = "the server rejected the request"
        spec_problem = detail.startswith("The spec is not valid")
        return RemoteError(detail, EXIT_SPEC_ERROR if spec_problem else EXIT_FAILED, [p for p in problems if p])
    return RemoteError(f"{detail or 'request failed'} (HTTP {response.status_code})")


def _client() -> Client:
    return Client(*load_credentials())


def _run_line(run: dict) -> str:
    top1 = (run.get("best_metrics") or {}).get("accuracy_top-1")
    best = f"{top1:.2f}" if isinstance(top1, (int, float)) else "-"
    return f"{run['id']}  {run['status']:<11} {best:>6}  {run.get('dataset') or '-':<12} {run['name']}"


# --- commands ------------------------------------------------------------------------------------


def cmd_login(args: argparse.Namespace) -> int:
    token = args.token or os.environ.get("TRAINYARD_TOKEN")
    if not token:
        import getpass

        token = getpass.getpass("API token (from the Tokens page): ").strip()
    url = (args.url or os.environ.get("TRAINYARD_URL") or "").rstrip("/")
    if not url:
        raise RemoteError("give the server URL: trainyard remote login http://HOST:PORT")
    teams = Client(url, token).get("/api/teams")["results"]
    path = config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump({"url": url, "token": token}, fh)
    os.chmod(path, 0o600)  # an existing file keeps its old mode through O_CREAT
    names = ", ".join(f"{t['slug']} ({t['role']})" for t in teams) or "no teams yet"
    print(f"logged in to {url}; teams: {names}; saved to {path}")
    return 0


def cmd_submit(args: argparse.Namespace) -> int:
    body: dict = {"dataset": args.dataset}
    if args.spec and args.spec_name:
        raise RemoteError("give a spec file or --spec-name, not both")
    if args.spec:
        body["spec_text"] = Path(args.spec).read_text()
    elif args.spec_name:
        body["spec_name"] = args.spec_name
    else:
        raise RemoteError("give a spec file or --spec-name (a library spec, e.g. demo/...)")
    if args.cfg_options:
        body["cfg_options"] = args.cfg_options
    for key in ("name", "team"):
        if getattr(args, key):
            body[key] = getattr(args, key)
    if args.workers:
        body["resources"] = {"num_workers": args.workers}
    client = _client()
    run = client.post("/api/runs", body)
    print(run["id"])
    if args.wait:
        return _wait(client, run["id"], args.timeout, out=sys.stderr)
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    page = _client().get("/api/runs", status=args.status, page_size=args.limit)
    for run in page["results"]:
        print(_run_line(run))
    if not page["results"]:
        print("no runs", file=sys.stderr)
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    run = _client().get(f"/api/runs/{args.run}")
    if args.json:
        print(json.dumps(run, indent=2))
        return 0
    for key in ("id", "name", "status", "status_reason", "team", "dataset", "spec_name", "created_by",
                "created_at", "started_at", "finished_at"):
        if run.get(key) not in (None, ""):
            print(f"{key + ':':<15}{run[key]}")
    if run.get("best_metrics"):
        print(f"{'best:':<15}" + ", ".join(f"{k}={v}" for k, v in run["best_metrics"].items()))
    return 0


def _print_logs(client: Client, run_id: str, after: int) -> int:
    while True:
        lines = client.get(f"/api/runs/{run_id}/logs", after=after, limit=5000)
        for line in lines:
            print(line["text"], flush=True)
        if lines:
            after = lines[-1]["id"]
        if len(lines) < 5000:
            return after


def cmd_logs(args: argparse.Namespace) -> int:
    client = _client()
    after = _print_logs(client, args.run, 0)
    if not args.follow:
        return 0
    while True:
        status = client.get(f"/api/runs/{args.run}")["status"]
        after = _print_logs(client, args.run, after)
        if status in TERMINAL:  # the lines written before it ended are all in by now
            return 0
        time.sleep(args.interval)


def _wait(client: Client, run_id: str, timeout: float | None, out=None, interval: float = 2.0) -> int:
    out = out or sys.stdout
    start, last = time.monotonic(), None
    while True:
        run = client.get(f"/api/runs/{run_id}")
        if run["status"] != last:
            last = run["status"]
            print(f"{run_id}: {last}" + (f" ({run['status_reason']})" if run.get("status_reason") else ""),
                  file=out, flush=True)
        if last in TERMINAL:
            return 0 if last == "succeeded" else EXIT_FAILED
        if timeout is not None and time.monotonic() - start > timeout:
            raise RemoteError(f"run {run_id} is still {last} after {timeout:g} s")
        time.sleep(interval)


def cmd_wait(args: argparse.Namespace) -> int:
    return _wait(_client(), args.run, args.timeout, interval=args.interval)


def cmd_cancel(args: argparse.Namespace) -> int:
    run = _client().post(f"/api/runs/{args.run}/cancel")
    print(f"{run['id']}: {run['status']}")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    """``trainyard remote evaluate CHECKPOINT``: an evaluation job (``POST /api/evaluations``); prints its id,
    and with ``--wait`` its metrics once it has succeeded."""
    body: dict = {"checkpoint": args.checkpoint, "split": args.split, "num_workers": args.workers}
    if args.dataset:
        body["dataset"] = args.dataset
    if args.metrics:
        body["metrics"] = args.metrics
    if args.metric_options:
        import jobspecs

        bad = [pair for pair in args.metric_options if "=" not in pair]
        if bad:
            raise RemoteError(f"--metric-options takes KEY=VALUE pairs, got {bad[0]!r}")
        body["metric_options"] = jobspecs.parse_cfg_options(args.metric_options)  # topk=1,5 -> [1, 5]
    client = _client()
    evaluation = client.post("/api/evaluations", body)
    print(evaluation["id"], flush=True)
    if not args.wait:
        return 0
    start = time.monotonic()
    while evaluation["status"] not in TERMINAL:
        if args.timeout is not None and time.monotonic() - start > args.timeout:
            raise RemoteError(f"evaluation {evaluation['id']} is still {evaluation['status']} after {args.timeout:g} s")
        time.sleep(args.interval)
        evaluation = client.get(f"/api/evaluations/{evaluation['id']}")
    reason = f" ({evaluation['status_reason']})" if evaluation.get("status_reason") else ""
    print(f"{evaluation['id']}: {evaluation['status']}{reason}")
    for name, value in (evaluation.get("results") or {}).items():
        shown = [round(v, 2) for v in value] if isinstance(value, list) else round(float(value), 2)
        print(f"{name} : {shown}")
    return 0 if evaluation["status"] == "succeeded" else EXIT_FAILED


def _dispatch(args: argparse.Namespace) -> int:
    try:
        return args.remote_func(args)
    except RemoteError as err:
        print(f"error: {err}", file=sys.stderr)
        for line in err.details:
            print(f"  {line}", file=sys.stderr)
        return err.exit_code
    except OSError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_FAILED


def add_parser(sub) -> None:
    """Add ``remote`` and its subcommands to the ``trainyard`` parser's subparsers."""
    remote = sub.add_parser("remote", help="submit and watch runs on a Trainyard server (REST API)")
    cmds = remote.add_subparsers(dest="remote_command", required=True, metavar="COMMAND")
    remote.set_defaults(func=_dispatch)

    login = cmds.add_parser("login", help="check and store the server URL and your API token")
    login.add_argument("url", nargs="?", help="e.g. http://127.0.0.1:8000 (default: $TRAINYARD_URL)")
    login.add_argument("--token", help="a personal API token (default: $TRAINYARD_TOKEN, else asked)")
    login.set_defaults(remote_func=cmd_login)

    submit = cmds.add_parser("submit", help="submit a spec; prints the run id")
    submit.add_argument("spec", nargs="?", help="a spec file to send (or use --spec-name)")
    submit.add_argument("--spec-name", help="a library spec on the server, e.g. demo/resnet18-tiny_2xb32-6e_digits.py")
    submit.add_argument("--dataset", required=True, help="dataset name in the team")
    submit.add_argument("--cfg-options", nargs="+", metavar="KEY=VALUE", help="override spec keys")
    submit.add_argument("--name", help="run name")
    submit.add_argument("--team", help="team slug (default: your first team)")
    submit.add_argument("--workers", type=int, help="Ray Train workers")
    submit.add_argument("--wait", action="store_true", help="wait for the run to end; exit 1 unless it succeeded")
    submit.add_argument("--timeout", type=float, help="with --wait: give up after this many seconds")
    submit.set_defaults(remote_func=cmd_submit)

    lister = cmds.add_parser("list", help="your teams' runs, newest first")
    lister.add_argument("--status", help="only runs in this state")
    lister.add_argument("--limit", type=int, default=20, help="how many (default: 20)")
    lister.set_defaults(remote_func=cmd_list)

    show = cmds.add_parser("show", help="one run")
    show.add_argument("run", help="run id")
    show.add_argument("--json", action="store_true", help="the API's JSON as it is")
    show.set_defaults(remote_func=cmd_show)

    logs = cmds.add_parser("logs", help="a run's log")
    logs.add_argument("run", help="run id")
    logs.add_argument("--follow", "-f", action="store_true", help="keep printing until the run ends")
    logs.add_argument("--interval", type=float, default=2.0, help="seconds between polls (default: 2)")
    logs.set_defaults(remote_func=cmd_logs)

    wait = cmds.add_parser("wait", help="wait for a run to end; exit 0 if it succeeded, else 1")
    wait.add_argument("run", help="run id")
    wait.add_argument("--timeout", type=float, help="give up after this many seconds")
    wait.add_argument("--interval", type=float, default=2.0, help="seconds between polls (default: 2)")
    wait.set_defaults(remote_func=cmd_wait)

    cancel = cmds.add_parser("cancel", help="cancel a run")
    cancel.add_argument("run", help="run id")
    cancel.set_defaults(remote_func=cmd_cancel)

    evaluate = cmds.add_parser("evaluate", help="score a checkpoint on a dataset split with several Ray workers")
    evaluate.add_argument("checkpoint", type=int, help="checkpoint id (a run's checkpoints list)")
    evaluate.add_argument("--dataset", help="a dataset of the run's team (default: the run's)")
    evaluate.add_argument("--split", choices=("test", "val"), default="test", help="the spec's data.test or data.val")
    evaluate.add_argument("--metrics", nargs="+", help="e.g. accuracy precision recall f1_score support")
    evaluate.add_argument("--metric-options", nargs="+", metavar="KEY=VALUE", help="e.g. topk=1,5 thrs=0.5")
    evaluate.add_argument("--workers", type=int, default=2, help="Ray workers, one shard each (default: 2)")
    evaluate.add_argument("--wait", action="store_true", help="wait for the end, print the metrics; exit 1 unless "
                                                               "it succeeded")
    evaluate.add_argument("--timeout", type=float, help="with --wait: give up after this many seconds")
    evaluate.add_argument("--interval", type=float, default=2.0, help="seconds between polls (default: 2)")
    evaluate.set_defaults(remote_func=cmd_evaluate)
