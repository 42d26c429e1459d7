from django.apps import AppConfig


class UsageConfig(AppConfig):
    name = "costwatch.usage"
    label = "usage"
