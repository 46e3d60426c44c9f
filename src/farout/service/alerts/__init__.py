"""Webhook alerts from the prediction log: grouped per entity and window,
held in storms, rate-limited per destination, retried with backoff, and
every delivery recorded (``farout serve --alerts alerts.toml``).

:mod:`.config` reads the operator's file, :mod:`.outbox` turns the log
behind its cursor into deliveries (over :mod:`.grouping` and
:mod:`farout.storms`), :mod:`.messages` writes Slack's JSON, :mod:`.worker`
posts it off the request path, :mod:`.routes` lists the records.
"""
