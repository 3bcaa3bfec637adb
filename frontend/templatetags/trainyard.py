"""Small template filters for the dashboard."""
from django import template

from backend.experiments.models import DEFAULT_PRIMARY

register = template.Library()


@register.filter
def primary_label(run) -> str:
    """The short name of the run's primary metric (its spec's facts): ``top-1`` for ``accuracy_top-1``,
    ``mAP`` for a multi-label spec."""
    return run.primary_metric[0].removeprefix("accuracy_")


@register.filter
def best_primary(run) -> str:
    """The run's best value of its primary metric, to two decimals (``–`` before any)."""
    value = run.primary_best
    return "–" if value is None else f"{value:.2f}"


@register.filter
def best_cell(run) -> str:
    """``best_primary`` for a column of top-1 values: named when the run ranks by another metric (``mAP 71.20``)."""
    value = best_primary(run)
    if run.primary_metric[0] == DEFAULT_PRIMARY[0] or value == "–":
        return value
    return f"{primary_label(run)} {value}"
