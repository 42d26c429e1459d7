from django.db import models


class RateWindow(models.Model):
    """Exports counted per ingest key per minute, shared by every web process through PostgreSQL."""

    key = models.ForeignKey("projects.ApiKey", on_delete=models.CASCADE, related_name="+")
    window_start = models.DateTimeField()
    count = models.IntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["key", "window_start"], name="ratewindow_identity")]
