from django.apps import AppConfig


class SavingsConfig(AppConfig):
    name = "costwatch.savings"
    label = "savings"
    verbose_name = "Savings advisor"
