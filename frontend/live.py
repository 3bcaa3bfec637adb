"""Server-sent events for a run page: new metric points, log lines and status changes.

An async view, so under uvicorn a watching browser costs a coroutine, not a thread. Each event
carries an id ``<last metric id>-<last log id>``; a reconnecting EventSource sends it back as
``Last-Event-ID`` and the stream resumes where it stopped, without repeating points.
"""
import asyncio
import json

from asgiref.sync import sync_to_async
from django.http import Http404, HttpResponseForbidden, StreamingHttpResponse

from backend.experiments.access import get_run_for_user
from backend.experiments.models import TERMINAL, LogLine, MetricPoint, Run

POLL_SECONDS = 1.0
MAX_STREAM_SECONDS = 600  # the browser reconnects on its own; keeps stale connections short
BATCH = 5000


def _parse_last_id(value: str | None) -> tuple[int, int]:
    try:
        m, l_ = (value or "0-0").split("-", 1)
        return max(0, int(m)), max(0, int(l_))
    except ValueError:
        return 0, 0


def _snapshot(run_id, after_metric: int, after_log: int) -> dict:
    run = Run.objects.only("status", "status_reason", "best_metrics").get(pk=run_id)
    points = list(MetricPoint.objects.filter(run_id=run_id, id__gt=after_metric).order_by("id")
                  .values_list("id", "mode", "name", "step", "epoch", "value")[:BATCH])
    lines = list(LogLine.objects.filter(run_id=run_id, id__gt=after_log).order_by("id")
                 .values_list("id", "text")[:BATCH])
    return {"status": run.status, "reason": run.status_reason, "best": run.best_metrics,
            "points": points, "lines": lines, "checkpoints": run.checkpoints.count()}


def _frame(event: str, data, event_id: str | None = None) -> str:
    head = f"id: {event_id}\n" if event_id else ""
    return f"{head}event: {event}\ndata: {json.dumps(data)}\n\n"


async def run_events(request, pk):
    user = await request.auser()
    if not user.is_authenticated:
        return HttpResponseForbidden("Log in first.")
    try:
        run = await sync_to_async(get_run_for_user)(user, pk)
    except Http404:
        raise
    after_m, after_l = _parse_last_id(request.headers.get("Last-Event-ID") or request.GET.get("last"))

    async def stream():
        nonlocal after_m, after_l
        last_status, last_ckpts, waited = None, -1, 0.0
        yield "retry: 2000\n\n"
        while waited < MAX_STREAM_SECONDS:
            snap = await sync_to_async(_snapshot)(run.pk, after_m, after_l)
            if snap["points"]:
                after_m = snap["points"][-1][0]
            if snap["lines"]:
                after_l = snap["lines"][-1][0]
            eid = f"{after_m}-{after_l}"
            if snap["points"]:
                yield _frame("metrics", [p[1:] for p in snap["points"]], eid)
            if snap["lines"]:
                yield _frame("logs", [t for _, t in snap["lines"]], eid)
            if snap["status"] != last_status or snap["checkpoints"] != last_ckpts:
                last_status, last_ckpts = snap["status"], snap["checkpoints"]
                yield _frame("status", {k: snap[k] for k in ("status", "reason", "best", "checkpoints")}, eid)
            if snap["status"] in TERMINAL and not snap["points"] and not snap["lines"]:
                yield _frame("end", {"status": snap["status"]}, eid)
                return
            if not snap["points"] and not snap["lines"]:
                yield ": keep-alive\n\n"
                await asyncio.sleep(POLL_SECONDS)
                waited += POLL_SECONDS

    response = StreamingHttpResponse(stream(), content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"  # nginx: do not buffer the stream
    return response
