"""``GET /``: the dashboard, a page the service serves itself with its
script, style sheet and icon (package data in ``static/``). It links to and
fetches nothing outside the service: the charts are inline SVG drawn by
its own script, from the service's JSON routes.
"""

from importlib.resources import files

from fastapi.responses import HTMLResponse, Response

__all__ = ["dashboard_routes"]

#: The files the page is made of, and their media types.
ASSETS = {
    "dashboard.js": "text/javascript; charset=utf-8",
    "dashboard.css": "text/css; charset=utf-8",
    "favicon.ico": "image/x-icon",
}

# the page may run only its own script and style, talk only to the service,
# and be framed by no one
_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


def _read(name):
    return (files(__package__) / "static" / name).read_bytes()


def dashboard_routes(app):
    """Add ``/``, ``/dashboard/{asset}`` and ``/favicon.ico`` to ``app``."""
    page = _read("dashboard.html")
    assets = {name: _read(name) for name in ASSETS}
    headers = {"Content-Security-Policy": _POLICY, "X-Content-Type-Options": "nosniff"}

    @app.get("/", tags=["dashboard"], response_class=HTMLResponse)
    def dashboard():
        """The monitoring and review page (asks for an API key once)."""
        return HTMLResponse(page, headers=headers)

    @app.get("/favicon.ico", tags=["dashboard"], include_in_schema=False)
    def favicon():
        return Response(assets["favicon.ico"], media_type=ASSETS["favicon.ico"])

    for name in ("dashboard.js", "dashboard.css"):
        app.add_api_route(
            f"/dashboard/{name}",
            _asset(assets[name], ASSETS[name], headers),
            methods=["GET"],
            include_in_schema=False,
        )


def _asset(body, media_type, headers):
    def serve():
        return Response(body, media_type=media_type, headers=headers)

    return serve
