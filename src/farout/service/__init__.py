"""The scoring service: an HTTP API over a model registry, a prediction log
in a database and API keys (``pip install "farout[service]"``).

Start it with ``farout serve``, or build the app in Python::

    from farout.service import Settings, create_app
    app = create_app(Settings(registry="models"))
"""

__all__ = ["Settings", "create_app"]


def __getattr__(name):
    # FastAPI and SQLAlchemy load only when the service is used
    if name == "create_app":
        from .app import create_app

        return create_app
    if name == "Settings":
        from .settings import Settings

        return Settings
    raise AttributeError(f"module 'farout.service' has no attribute {name!r}")
