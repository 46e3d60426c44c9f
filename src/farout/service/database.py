"""The service's database: an engine with the settings each backend needs,
the schema upgraded by Alembic at start, and one writer at a time for
SQLite.

SQLite (the default, one file in the registry folder, nothing to start)
runs in WAL mode, so readers never wait for the writer, with
``synchronous=NORMAL`` (a committed row survives the process being killed;
only a power cut may lose the last commits), a ``busy_timeout`` and foreign
keys on. PostgreSQL is chosen by URL (``postgresql+psycopg://...``).
"""

import contextlib
import threading
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, event, exc, text
from sqlalchemy.engine import make_url

from .errors import Unavailable

__all__ = ["DB_ERRORS", "Database", "SchemaError", "default_url"]

MIGRATIONS = Path(__file__).with_name("migrations")

#: Errors that mean the database cannot take the request now (locked, full,
#: gone), answered with 503 and ``Retry-After``.
DB_ERRORS = (exc.OperationalError, exc.InterfaceError, exc.DisconnectionError, exc.TimeoutError)


class SchemaError(RuntimeError):
    """The database's schema is one this farout does not know."""


def default_url(registry):
    """The SQLite file inside the registry folder."""
    return f"sqlite:///{Path(registry).resolve() / 'farout.db'}"


def _alembic_config():
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


class Database:
    """An engine on ``url`` with the schema at this farout's head.

    Parameters
    ----------
    url : str
        A SQLAlchemy URL: ``sqlite:///path/farout.db`` or
        ``postgresql+psycopg://user@host/db``.
    busy_timeout : float, default=5.0
        Seconds a write waits for a lock held by another process before the
        request is answered 503.
    """

    def __init__(self, url, busy_timeout=5.0):
        self.url = make_url(url)
        self.is_sqlite = self.url.get_backend_name() == "sqlite"
        self.engine = self._engine(busy_timeout)
        # Datasette's rule: all writes to SQLite go through one writer, so
        # the service's own threads never fight over the file lock.
        self._writer = threading.Lock() if self.is_sqlite else contextlib.nullcontext()

    def _engine(self, busy_timeout):
        if not self.is_sqlite:
            return create_engine(self.url, pool_pre_ping=True, pool_size=8, max_overflow=8)
        if self.url.database and self.url.database != ":memory:":
            Path(self.url.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            self.url,
            connect_args={"check_same_thread": False, "timeout": busy_timeout},
        )

        @event.listens_for(engine, "connect")
        def _pragmas(connection, _record):
            cursor = connection.cursor()
            for pragma in (
                "journal_mode=WAL",
                f"busy_timeout={int(busy_timeout * 1000)}",
                "synchronous=NORMAL",
                "foreign_keys=ON",
            ):
                cursor.execute(f"PRAGMA {pragma}")
            cursor.close()

        return engine

    # ---------------------------------------------------------- schema
    def upgrade(self, revision="head"):
        """Bring the schema to this farout's head (or to ``revision``, an
        older one, as the migration tests do); refuse a newer one. The
        upgrade is one transaction: it completes or changes nothing.

        Raises
        ------
        SchemaError
            The database was written by a newer farout.
        """
        config = _alembic_config()
        script = ScriptDirectory.from_config(config)
        known = {r.revision for r in script.walk_revisions()}
        with self._writer, self._migrating() as connection:
            current = MigrationContext.configure(connection).get_current_revision()
            if current is not None and current not in known:
                raise SchemaError(
                    f"the database {self.url.render_as_string(hide_password=True)} has schema "
                    f"revision {current!r}, which this farout does not know (its newest is "
                    f"{script.get_current_head()!r}): it was written by a newer farout. "
                    "Upgrade farout, or point --db at another database."
                )
            config.attributes["connection"] = connection
            command.upgrade(config, revision)

    @contextlib.contextmanager
    def _migrating(self):
        """A connection in the one transaction an upgrade runs in.

        On SQLite, as its documentation asks of a table rebuilt while
        others refer to it (lang_altertable.html): foreign keys off, which
        only takes outside a transaction, and checked before the commit.
        The transaction is begun here, since Python's sqlite3 would run the
        DDL before the first insert outside of any (a failed upgrade would
        leave half a schema); IMMEDIATE takes the write lock first, so two
        processes starting together upgrade one after the other.
        """
        if not self.is_sqlite:
            with self.engine.begin() as connection:
                yield connection
            return
        with self.engine.connect() as connection:
            connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
            connection.commit()
            try:
                with connection.begin():
                    connection.exec_driver_sql("BEGIN IMMEDIATE")
                    yield connection
                    broken = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
                    if broken:
                        raise SchemaError(
                            f"the upgrade would break {len(broken)} foreign keys (the first: "
                            f"{tuple(broken[0])}); nothing was changed."
                        )
            finally:
                connection.exec_driver_sql("PRAGMA foreign_keys=ON")
                connection.commit()

    def revision(self):
        """The schema revision the database is at (None before upgrade)."""
        with self.engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()

    @staticmethod
    def head():
        """The newest schema revision this farout knows."""
        return ScriptDirectory.from_config(_alembic_config()).get_current_head()

    # ------------------------------------------------------ connections
    @contextlib.contextmanager
    def writing(self):
        """A transaction for writes, committed on leaving; database trouble
        becomes :class:`~farout.service.errors.Unavailable`."""
        with self._unavailable(), self._writer, self.engine.begin() as connection:
            yield connection

    @contextlib.contextmanager
    def reading(self):
        """A connection for reads."""
        with self._unavailable(), self.engine.connect() as connection:
            yield connection

    @contextlib.contextmanager
    def _unavailable(self):
        try:
            yield
        except DB_ERRORS as error:
            reason = str(getattr(error, "orig", error)).strip().splitlines()[0]
            raise Unavailable(
                f"the database cannot take the request now ({reason}); nothing was recorded. "
                "Retry later."
            ) from error

    def ping(self):
        """True when the database answers."""
        try:
            with self.reading() as connection:
                connection.execute(text("SELECT 1"))
        except Unavailable:
            return False
        return True

    def close(self):
        self.engine.dispose()
