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
RUN pip install --no-cache-dir . && python manage.py collectstatic --noinput 2>/dev/null || true
USER costwatch
EXPOSE 8000
CMD ["gunicorn", "costwatch.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "4", "--access-logfile", "-"]
