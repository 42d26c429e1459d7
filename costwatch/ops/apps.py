from django.apps import AppConfig


class OpsConfig(AppConfig):
    name = "costwatch.ops"
    label = "ops"
