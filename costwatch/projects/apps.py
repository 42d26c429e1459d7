from django.apps import AppConfig


class ProjectsConfig(AppConfig):
    name = "costwatch.projects"
    label = "projects"

    def ready(self) -> None:
        from costwatch.projects import schema  # noqa: F401 - registers the OpenAPI auth extension
