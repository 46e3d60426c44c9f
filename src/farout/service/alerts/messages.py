"""What an alert says, as the JSON a Slack incoming webhook takes: a plain
``text`` (the notification and the fallback) and Block Kit ``blocks``
within Slack's limits (a header of 150 characters, section texts of 3,000,
at most 10 fields). Pure.
"""

from datetime import datetime, timezone
from urllib.parse import quote, urlencode

__all__ = ["alert_message", "prediction_link", "storm_message"]

_HEADER, _TEXT, _FIELD = 150, 3000, 2000


def _cut(text, limit):
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _escape(text):
    # the three characters Slack's mrkdwn reserves
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _clock(seconds):
    return datetime.fromtimestamp(seconds, timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def _span(seconds):
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds // size:g}{unit}"
    return f"{seconds:g}s"


def _field(label, value):
    return {"type": "mrkdwn", "text": _cut(f"*{label}*\n{_escape(value)}", _FIELD)}


def _blocks(header, body, fields, link, link_text, context):
    return [
        {"type": "header", "text": {"type": "plain_text", "text": _cut(header, _HEADER)}},
        {"type": "section", "text": {"type": "mrkdwn", "text": _cut(body, _TEXT)}},
        {"type": "section", "fields": fields[:10]},
        {"type": "section", "text": {"type": "mrkdwn", "text": f"<{link}|{_escape(link_text)}>"}},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": _cut(context, _TEXT)}]},
    ]


def prediction_link(base_url, prediction_id):
    """Where the service shows the prediction: ``GET /v1/predictions/{id}``."""
    return f"{base_url}/v1/predictions/{quote(prediction_id, safe='')}"


def alert_message(group, base_url, entity_name):
    """The message of a :class:`~.grouping.Group`."""
    severity = group.severity or "flagged"
    model = f"{group.model_name} v{group.model_version}"
    who = f" for {entity_name} {group.entity}" if group.entity is not None else ""
    rows = f"{group.count:,} flagged rows" if group.count > 1 else "a flagged row"
    span = _span(group.window_end - group.window_start)
    link = prediction_link(base_url, group.prediction_id)
    text = f"[{severity}] {model}: {rows}{who} in {span} from {_clock(group.window_start)}: {group.reason}"
    fields = [
        _field("Severity", severity),
        _field("Model", model),
        _field("Count", f"{group.count:,} in {span}"),
        _field("Top score", f"{group.max_score:.4g}"),
    ]
    if group.entity is not None:
        fields.append(_field(entity_name.capitalize(), group.entity))
    fields.append(_field("Window", f"{_clock(group.window_start)} + {span}"))
    blocks = _blocks(
        f"farout alert: {severity} · {model}",
        f"*Reason:* {_escape(group.reason or 'no reason given')}",
        fields,
        link,
        f"Open prediction {group.prediction_id}",
        f"farout · {rows}{_escape(who)} · most anomalous shown",
    )
    return {"text": _cut(text, _TEXT), "blocks": blocks}


def storm_message(model_name, start, window, rows, flagged, baseline, multiple, base_url):
    """The meta-alert of a storm that began in the window from ``start``."""
    rate = flagged / rows if rows else 0.0
    span = _span(window)
    query = urlencode({"flagged": "true", "model": model_name, "since": start})
    link = f"{base_url}/v1/predictions?{query}"
    text = (
        f"[storm] {model_name}: {flagged:,} of {rows:,} rows flagged ({rate:.1%}) in {span} "
        f"from {_clock(start)}, {rate / baseline:.0f}x the baseline {baseline:.2%}. Single alerts "
        f"are held until the flag rate falls to {multiple:g}x the baseline or below."
    )
    fields = [
        _field("Severity", "storm"),
        _field("Model", model_name),
        _field("Flag rate", f"{rate:.1%} ({flagged:,} of {rows:,})"),
        _field("Baseline", f"{baseline:.2%} (storm above {multiple:g}x)"),
        _field("Window", f"{_clock(start)} + {span}"),
    ]
    blocks = _blocks(
        f"farout alert storm · {model_name}",
        f"*Alert storm:* {_escape(text.removeprefix(f'[storm] {model_name}: '))}",
        fields,
        link,
        "The flagged predictions",
        "farout · one meta-alert instead of one per row",
    )
    return {"text": _cut(text, _TEXT), "blocks": blocks}
