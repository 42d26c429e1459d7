FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 COSTWATCH_VAR_DIR=/var/lib/costwatch
WORKDIR /app
RUN useradd --system --home /app costwatch && mkdir -p /var/lib/costwatch && chown costwatch /var/lib/costwatch
COPY pyproject.toml README.md ./
COPY manage.py ./
COPY costwatch ./costwatch
COPY ingest ./ingest
COPY alerts ./alerts
COPY frontend ./frontend
RUN pip install --no-cache-dir .
# A placeholder URL keeps manage.py from starting the embedded database; collectstatic never connects.
RUN DATABASE_URL=postgres://build@localhost/build SECRET_KEY=build python manage.py collectstatic --noinput
USER costwatch
EXPOSE 8000 4317
# One gthread worker per usable core (costwatch/gunicorn_config.py; WEB_CONCURRENCY overrides), 4 threads each.
CMD ["gunicorn", "costwatch.wsgi:application", "--config", "python:costwatch.gunicorn_config", "--bind", "0.0.0.0:8000", "--worker-class", "gthread", "--threads", "4", "--access-logfile", "-", "--limit-request-line", "0"]
