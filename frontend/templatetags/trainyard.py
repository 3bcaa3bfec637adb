"""Small template filters for the dashboard."""
from django import template

register = template.Library()


@register.filter
def get_top1(best: dict) -> str:
    value = (best or {}).get("accuracy_top-1")
    return "–" if value is None else f"{value:.2f}"
