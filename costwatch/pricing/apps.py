from django.apps import AppConfig


class PricingConfig(AppConfig):
    name = "costwatch.pricing"
    label = "pricing"
