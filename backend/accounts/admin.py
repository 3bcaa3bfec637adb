from django.contrib import admin

from .models import ApiToken, Membership, Team


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ("name", "slug", "created_at", "max_queued_runs", "max_running_runs", "max_queued_sweeps",
                    "max_running_sweeps")
    fieldsets = [
        (None, {"fields": ("name", "slug", "created_at")}),
        ("Limits", {"fields": ("max_queued_runs", "max_running_runs", "max_queued_sweeps", "max_running_sweeps"),
                    "description": "The team's own limits; an empty one is the TRAINYARD_TEAM_MAX_* setting's "
                                   "default. The team page shows them with what is in use."}),
    ]
    inlines = [MembershipInline]


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ("name", "user", "created_at", "last_used_at", "revoked_at")
    readonly_fields = ("digest",)
