from django.contrib import admin

from access.admin import ReadOnlyAdmin

from .models import Job


@admin.register(Job)
class JobAdmin(ReadOnlyAdmin, admin.ModelAdmin):
    """Background jobs (jobs/worker.py, records/jobs.py) with their state and progress, as the worker writes them."""

    list_display = ["id", "kind", "model_key", "state", "progress", "requester", "attempts", "created_at", "finished_at"]
    list_filter = ["state", "kind", "model_key"]
    fields = [
        "id", "kind", "model_key", "state", "progress", "requester", "attempts", "created_at", "started_at",
        "heartbeat_at", "finished_at", "result", "error", "options", "resume_after", "worker", "task_id",
    ]
    readonly_fields = fields

    @admin.display(description="Progress")
    def progress(self, job):
        return f"{job.done} / {job.total}"

    @admin.display(description="Asked by")
    def requester(self, job):
        return job.requester
