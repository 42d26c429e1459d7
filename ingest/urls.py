from django.urls import path

from ingest.views import traces

urlpatterns = [path("v1/traces", traces, name="otlp-traces")]
