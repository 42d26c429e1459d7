from django.apps import AppConfig


class BillingConfig(AppConfig):
    name = "costwatch.billing"
    label = "billing"
    verbose_name = "Provider bills and reconciliation"
