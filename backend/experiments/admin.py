from django.contrib import admin

from .models import Checkpoint, Dataset, Run, RunEvent


@admin.register(Dataset)
class DatasetAdmin(admin.ModelAdmin):
    list_display = ("name", "team", "path", "num_train", "num_val")


class RunEventInline(admin.TabularInline):
    model = RunEvent
    extra = 0


@admin.register(Run)
class RunAdmin(admin.ModelAdmin):
    list_display = ("name", "team", "status", "created_at")
    list_filter = ("status", "team")
    inlines = [RunEventInline]


admin.site.register(Checkpoint)
