"""Read-side queries shared by the alerts API and pages (no state changes here)."""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeAlias, TypedDict

from django.db.models import Count, OuterRef, Q, QuerySet, Subquery

from alerts.models import Delivery, DeliveryStatus, Incident

if TYPE_CHECKING:
    from django_stubs_ext import WithAnnotations


class DeliveryFailures(TypedDict):
    failed_deliveries: int
    last_delivery_error: str | None


IncidentWithFailures: TypeAlias = "WithAnnotations[Incident, DeliveryFailures]"


def incidents_with_delivery_failures(incidents: QuerySet[Incident]) -> QuerySet[IncidentWithFailures]:
    """``incidents`` annotated with ``failed_deliveries`` (deliveries that gave up) and
    ``last_delivery_error`` (the newest failed delivery's last error, or None)."""
    newest_failure = (
        Delivery.objects.filter(incident=OuterRef("pk"), status=DeliveryStatus.FAILED)
        .order_by("-created_at", "-pk")
        .values("last_error")[:1]
    )
    return incidents.annotate(
        failed_deliveries=Count("deliveries", filter=Q(deliveries__status=DeliveryStatus.FAILED), distinct=True),
        last_delivery_error=Subquery(newest_failure),
    )
