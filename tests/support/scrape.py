"""Reading a Prometheus exposition (``/metrics``, the worker's port) the way Prometheus does: by metric name
and labels, with the library's own parser."""
from __future__ import annotations


def samples(text: str) -> dict[tuple[str, tuple], float]:
    """Every sample: ``(name, sorted labels) -> value``."""
    from prometheus_client.parser import text_string_to_metric_families

    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def sample(text: str, name: str, **labels) -> float | None:
    """The value of the sample ``name`` with exactly these labels, or None when there is none."""
    return samples(text).get((name, tuple(sorted(labels.items()))))
