"""What the operator sees: aggregate figures over digests, subscribers, sources and returned mail, the
scheduler's last tick and the queue depth. Read by the web dashboard (/admin) and /metrics; the tick is
recorded by scheduler.tasks.

Modules: `figures` (digests by state and day, subscribers, failures, bounces and complaints), `sources`
(health and new papers per day), `ticks` (the last tick and the Celery queue, in Redis).
"""
