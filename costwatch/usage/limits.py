"""Storage limits of usage data, shared by ingest (which rejects what exceeds them) and the models.

Pure: importing it needs no Django setup.
"""

# Attribution keys (user, feature, endpoint/route, session, root span name) are stored whole up to
# this many characters. A span with a longer one is rejected through ``partial_success`` with a
# message, never cut: a cut key would merge ids sharing a prefix and miss lookups by the full id.
# Indexes on these columns hash the value (md5), so a long key never hits PostgreSQL's btree limit.
MAX_ATTRIBUTION_CHARS = 4096
