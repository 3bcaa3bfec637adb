"""The Celery application. Tasks live in each app's ``tasks.py``; settings come from Django's.

With ``TRAINYARD_WORKER_METRICS_PORT`` set, a worker serves its metrics (``backend/project/metrics.py``) on that
port: the main process names a folder where its pool's processes write what they count, before the pool starts,
and serves their sum once the worker is ready.
"""
import os

from celery import Celery, signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backend.project.settings")

app = Celery("trainyard")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

_worker_metrics = {"folder": None, "server": None}


@signals.celeryd_init.connect(dispatch_uid="trainyard.metrics.prepare")
def _prepare_worker_metrics(**kwargs):
    from . import metrics

    _worker_metrics["folder"] = metrics.prepare_worker_metrics()


@signals.worker_ready.connect(dispatch_uid="trainyard.metrics.serve")
def _serve_worker_metrics(**kwargs):
    from . import metrics

    _worker_metrics["server"] = metrics.start_worker_metrics()


@signals.worker_process_shutdown.connect(dispatch_uid="trainyard.metrics.process_ended")
def _pool_process_ended(pid=None, **kwargs):
    from . import metrics

    metrics.pool_process_ended(pid or os.getpid())


@signals.worker_shutdown.connect(dispatch_uid="trainyard.metrics.stop")
def _stop_worker_metrics(**kwargs):
    from . import metrics

    if _worker_metrics["server"] is not None:
        _worker_metrics["server"].shutdown()
    metrics.remove_worker_metrics(_worker_metrics["folder"])


@signals.task_postrun.connect(dispatch_uid="trainyard.metrics.task")
def _count_task(task=None, state=None, **kwargs):
    from . import metrics

    if task is not None and not app.conf.task_always_eager:
        metrics.count_task(task.name, str(state or "unknown").lower())
