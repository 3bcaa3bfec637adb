from django.contrib import admin

from .models import Deployment


@admin.register(Deployment)
class DeploymentAdmin(admin.ModelAdmin):
    list_display = ("name", "team", "status", "runtime", "replicas", "request_count", "created_at")
    list_filter = ("status", "runtime", "team")
    readonly_fields = ("request_count", "image_count", "error_count")
