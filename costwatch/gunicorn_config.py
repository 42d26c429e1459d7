"""gunicorn's settings for the Docker image and compose: ``gunicorn --config python:costwatch.gunicorn_config``.

Only what a fixed command line cannot say: how many worker processes, one per usable core unless
``COSTWATCH_WEB_WORKERS`` or ``WEB_CONCURRENCY`` says otherwise (``costwatch.config.web_workers``,
which ``make run`` uses too). Options given on the command line win over these.
"""

from costwatch.config import web_workers

workers = web_workers()
