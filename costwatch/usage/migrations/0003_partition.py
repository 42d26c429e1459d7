"""Partition the raw calls table by month of started_at (PostgreSQL declarative partitioning).

Rows are copied into the new table, so this works on a database that already holds calls.
A DEFAULT partition catches calls outside the prepared months; `costwatch.usage.partitions`
creates months ahead (beat) and moves stray rows out of the default partition.
"""
from django.db import migrations, models

FORWARD = """
ALTER TABLE usage_llmcall RENAME TO usage_llmcall_unpartitioned;
ALTER TABLE usage_llmcall_unpartitioned RENAME CONSTRAINT llmcall_identity TO llmcall_identity_old;
CREATE TABLE usage_llmcall (LIKE usage_llmcall_unpartitioned INCLUDING DEFAULTS INCLUDING IDENTITY)
    PARTITION BY RANGE (started_at);
ALTER TABLE usage_llmcall ADD PRIMARY KEY (id, started_at);
ALTER TABLE usage_llmcall ADD CONSTRAINT llmcall_identity UNIQUE (project_id, trace_id, span_id, started_at);
ALTER TABLE usage_llmcall ADD CONSTRAINT usage_llmcall_project_fk FOREIGN KEY (project_id)
    REFERENCES projects_project (id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED;
ALTER TABLE usage_llmcall ADD CONSTRAINT usage_llmcall_price_fk FOREIGN KEY (price_id)
    REFERENCES pricing_modelprice (id) DEFERRABLE INITIALLY DEFERRED;
CREATE INDEX usage_llmcall_project_started ON usage_llmcall (project_id, started_at);
CREATE INDEX usage_llmcall_project_trace ON usage_llmcall (project_id, trace_id);
CREATE INDEX usage_llmcall_price ON usage_llmcall (price_id);
CREATE TABLE usage_llmcall_default PARTITION OF usage_llmcall DEFAULT;
INSERT INTO usage_llmcall SELECT * FROM usage_llmcall_unpartitioned;
SELECT setval(pg_get_serial_sequence('usage_llmcall', 'id'),
              COALESCE((SELECT max(id) FROM usage_llmcall), 0) + 1, false);
DROP TABLE usage_llmcall_unpartitioned;
"""


class Migration(migrations.Migration):
    dependencies = [("usage", "0002_rollups"), ("projects", "0001_initial"), ("pricing", "0001_initial")]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunSQL(FORWARD, reverse_sql=migrations.RunSQL.noop)],
            state_operations=[
                migrations.RemoveConstraint(model_name="llmcall", name="llmcall_identity"),
                migrations.AddConstraint(
                    model_name="llmcall",
                    constraint=models.UniqueConstraint(
                        fields=("project", "trace_id", "span_id", "started_at"), name="llmcall_identity"
                    ),
                ),
            ],
        ),
    ]
