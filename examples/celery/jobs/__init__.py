"""A small job service: an HTTP API that records jobs in Postgres and hands them to a Celery
worker over Redis. It is the system under test of examples/celery/gate.toml."""
