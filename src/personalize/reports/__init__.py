"""Measurement: attribution, experiments, off-policy evaluation, reports and exports.

Pure modules (no Redis, no web): records, identity, attribution, experiments, stats, ope,
policies, obd, simulate (SYNTHETIC data), summary, charts, html, export.
Redis-facing: streams (chunked XRANGE), export_stream (stream -> Parquet), service (the
async functions behind /v1/experiments and /v1/reports/summary).
"""
