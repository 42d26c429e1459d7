from django.apps import AppConfig


class ProjectsConfig(AppConfig):
    name = "costwatch.projects"
    label = "projects"
