"""Statistics for the dashboard and the statistics page: queries over the usage
counts and their rollups (never the request log), time ranges and labels.

Shared by the admin UI (pages) and the stats blueprint (their JSON), so it lives
below both.
"""
