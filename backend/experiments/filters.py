"""Filtering, search and ordering of run lists, shared by the API and the dashboard's runs page.

The query parameters are the same in both places: ``status`` (comma-separated), ``family`` (the
library folder, e.g. ``resnet``), ``dataset`` (name), ``user`` (username), ``tag`` (name), ``q``
(search in the run name and spec name) and ``ordering`` (a field of ``ORDERING_FIELDS``, ``-`` for
descending).
"""
from __future__ import annotations

from django.db.models import Q, QuerySet
from rest_framework.filters import BaseFilterBackend, OrderingFilter

from .models import RunStatus

ORDERING_FIELDS = ("created_at", "name", "status", "finished_at", "spec_name")
DEFAULT_ORDERING = "-created_at"
FILTER_PARAMS = ("status", "family", "dataset", "user", "tag", "q")


def filter_runs(qs: QuerySet, params) -> QuerySet:
    """Apply the list filters found in ``params`` (a QueryDict or a dict) to a runs queryset.

    Args:
        qs: Runs the user may see (already scoped by the access helpers).
        params: The request's query parameters.

    Returns:
        The filtered queryset (distinct when a tag filter joins the tags table).
    """
    if statuses := [s for s in (params.get("status") or "").split(",") if s in RunStatus.values]:
        qs = qs.filter(status__in=statuses)
    if family := (params.get("family") or "").strip().strip("/"):
        qs = qs.filter(spec_name__startswith=f"{family}/")
    if dataset := (params.get("dataset") or "").strip():
        qs = qs.filter(dataset__name=dataset)
    if user := (params.get("user") or "").strip():
        qs = qs.filter(created_by__username=user)
    if tag := (params.get("tag") or "").strip():
        qs = qs.filter(tags__name=tag).distinct()
    if q := (params.get("q") or params.get("search") or "").strip():
        qs = qs.filter(Q(name__icontains=q) | Q(spec_name__icontains=q))
    return qs


def ordering_of(value: str | None) -> str:
    """The ``ordering`` parameter if it names an allowed field, else the default (newest first)."""
    value = (value or "").strip()
    return value if value.lstrip("-") in ORDERING_FIELDS else DEFAULT_ORDERING


def order_runs(qs: QuerySet, value: str | None) -> QuerySet:
    """Order by the chosen field; ties by creation time, newest first, then id, so pages are stable."""
    field = ordering_of(value)
    tail = [f for f in ("-created_at", "-id") if f.lstrip("-") != field.lstrip("-")]
    return qs.order_by(field, *tail)


def families(names) -> list[str]:
    """The library folders (families) among spec names, sorted."""
    return sorted({n.split("/", 1)[0] for n in names if n and "/" in n})


class RunFilterBackend(BaseFilterBackend):
    """DRF backend around ``filter_runs``, with its parameters described in the OpenAPI schema."""

    def filter_queryset(self, request, queryset, view):
        return filter_runs(queryset, request.query_params)

    def get_schema_operation_parameters(self, view):
        described = {
            "status": "Comma-separated statuses, e.g. running,queued.",
            "family": "Library folder of the spec, e.g. resnet.",
            "dataset": "Dataset name.",
            "user": "Username of whoever submitted the run.",
            "tag": "Tag name.",
            "q": "Search in the run's name and spec name.",
        }
        return [{"name": name, "required": False, "in": "query", "description": text, "schema": {"type": "string"}}
                for name, text in described.items()]


class RunOrderingFilter(OrderingFilter):
    """``?ordering=`` over ``ORDERING_FIELDS``; the cursor paginator reads its ordering from here."""

    ordering_fields = ORDERING_FIELDS
    ordering = DEFAULT_ORDERING

    def get_default_ordering(self, view):
        return (DEFAULT_ORDERING,)
