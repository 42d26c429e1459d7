from django.db import models


class Heartbeat(models.Model):
    """Last time a background component proved it runs (beat schedules, a worker executes)."""

    component = models.CharField(max_length=64, unique=True)
    last_seen = models.DateTimeField()
    hostname = models.CharField(max_length=255, blank=True)

    def __str__(self) -> str:
        return f"{self.component} @ {self.last_seen:%Y-%m-%d %H:%M:%S}"
