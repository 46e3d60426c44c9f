"""API keys: made once, stored only as SHA-256 hashes, compared in constant
time, each with a scope.

A key reads ``fo_<key id>_<secret>``. The key id is public (it names the key
in the registry's audit and in ``farout keys list``); the secret never leaves
the line that prints it. Keys are 256-bit random, so one SHA-256 round is
enough: there is nothing to brute-force that a slow hash would protect.
"""

import hashlib
import hmac
import secrets
import threading
import time

from sqlalchemy import insert, select, update

from .errors import Forbidden, Invalid, NotFound, Unauthorized
from .tables import api_keys

__all__ = ["SCOPES", "Keys"]

#: What each scope allows; ``admin`` may do everything ``score`` may.
SCOPES = {"score": {"score"}, "admin": {"score", "admin"}}

_PREFIX = "fo_"
# Compared against when the key id is unknown, so both paths take as long.
_DUMMY = hashlib.sha256(b"no such key").hexdigest()


def _hash(key):
    return hashlib.sha256(key.encode()).hexdigest()


class Keys:
    """The keys of one service database, cached in memory.

    The cache is reloaded when a key id is not in it (at most once a
    second) and every ``refresh`` seconds, so keys made or revoked by
    ``farout keys`` while the service runs take effect.
    """

    def __init__(self, db, refresh=5.0):
        self.db = db
        self.refresh = refresh
        self._keys = {}
        self._loaded = -1e9
        self._lock = threading.Lock()

    def create(self, scope, name="key"):
        """Make a key; returns ``(key_id, key)``. The key is shown once."""
        if scope not in SCOPES:
            raise Invalid(f"scope must be one of {', '.join(SCOPES)}, got {scope!r}.")
        key_id = secrets.token_hex(6)
        key = f"{_PREFIX}{key_id}_{secrets.token_urlsafe(32)}"
        with self.db.writing() as connection:
            connection.execute(
                insert(api_keys).values(
                    key_id=key_id,
                    key_hash=_hash(key),
                    scope=scope,
                    name=str(name)[:64],
                    created_at=time.time(),
                )
            )
        self._loaded = -1e9
        return key_id, key

    def revoke(self, key_id):
        with self.db.writing() as connection:
            done = connection.execute(
                update(api_keys)
                .where(api_keys.c.key_id == key_id, api_keys.c.revoked_at.is_(None))
                .values(revoked_at=time.time())
            ).rowcount
        if not done:
            raise NotFound(f"no live key has the id {key_id!r}; `farout keys list` shows them.")
        self._loaded = -1e9

    def list(self):
        with self.db.reading() as connection:
            rows = connection.execute(
                select(
                    api_keys.c.key_id,
                    api_keys.c.scope,
                    api_keys.c.name,
                    api_keys.c.created_at,
                    api_keys.c.revoked_at,
                ).order_by(api_keys.c.created_at)
            )
            return [dict(r) for r in rows.mappings()]

    @staticmethod
    def _key_id(authorization):
        key = (authorization or "").partition(" ")[2].strip()
        return key[len(_PREFIX) :].partition("_")[0] if key.startswith(_PREFIX) else ""

    def _due(self, force):
        return time.monotonic() - self._loaded >= (1.0 if force else self.refresh)

    def stale(self, authorization):
        """Whether :meth:`check` of this header would read the database
        first (the cache is old, or holds no such key id), so an event loop
        can run it in a thread instead."""
        return self._due(False) or (
            self._key_id(authorization) not in self._keys and self._due(True)
        )

    def _reload(self, force):
        if not self._due(force):
            return
        with self._lock:
            if self._due(force):  # not reloaded by the thread this one waited for
                self._read()

    def _read(self):
        now = time.monotonic()
        with self.db.reading() as connection:
            rows = connection.execute(
                select(
                    api_keys.c.key_id, api_keys.c.key_hash, api_keys.c.scope, api_keys.c.name
                ).where(api_keys.c.revoked_at.is_(None))
            )
            self._keys = {r.key_id: (r.key_hash, r.scope, r.name) for r in rows}
            self._loaded = now

    def check(self, authorization, needed, reload=True):
        """The key's ``(key_id, name)`` from an ``Authorization`` header;
        with ``reload=False`` the cache is used as it is.

        Raises
        ------
        Unauthorized
            No key, a malformed one, or one this service does not hold.
        Forbidden
            A real key whose scope does not allow ``needed``.
        """
        scheme, _, key = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            raise Unauthorized(
                "this endpoint needs an API key: send 'Authorization: Bearer <key>' "
                "(make one with `farout keys create`)."
            )
        key = key.strip()
        key_id = self._key_id(authorization)
        if reload:
            self._reload(force=False)
            if key_id not in self._keys:
                self._reload(force=True)
        stored, scope, name = self._keys.get(key_id, (_DUMMY, None, None))
        if not hmac.compare_digest(_hash(key), stored) or scope is None:
            raise Unauthorized("the API key is not valid for this service (unknown or revoked).")
        if needed not in SCOPES[scope]:
            raise Forbidden(
                f"the key {key_id} has the {scope!r} scope; this needs {needed!r}. "
                f"Use a key made with `farout keys create --scope {needed}`."
            )
        return key_id, name
