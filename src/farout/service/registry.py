"""The model registry: immutable numbered versions of each model, movable
``champion`` and ``challenger`` aliases (as in MLflow's registry), and an
audit row for every change.

A version's file lives at ``REGISTRY/models/NAME/NAME-vN.farout``, read-only,
with its SHA-256 in the database; it is checked again each time it is
loaded. Rollback is pointing ``champion`` back at an earlier version: the
next request is served by it, and requests in flight finish on the version
they started with.
"""

import hashlib
import json
import os
import re
import tempfile
import threading
import time
from collections import OrderedDict
from pathlib import Path

from sqlalchemy import delete, exc, func, insert, select, update

from ..exceptions import ModelFileError
from .errors import Conflict, Invalid, NotFound, Unavailable
from .tables import model_aliases, model_versions, registry_audit

__all__ = ["ALIASES", "STATUSES", "Registry", "parse_model"]

ALIASES = ("champion", "challenger")
#: A version's status: ``ready`` to serve, or ``rejected`` by its gates.
STATUSES = ("ready", "rejected")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def _check_name(name):
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise Invalid(
            f"model name {name!r} is not allowed: use 1-64 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit.",
            field="name",
        )
    return name


def _check_alias(alias):
    if alias not in ALIASES:
        raise Invalid(f"alias must be 'champion' or 'challenger', got {alias!r}.", field="alias")
    return alias


def parse_model(spec):
    """``"NAME@ALIAS"``, ``"NAME/VERSION"`` or ``"NAME"`` as ``(name, alias,
    version)``; a bare name means its champion."""
    if not isinstance(spec, str) or not spec:
        raise Invalid(f"model must be 'NAME@ALIAS' or 'NAME/VERSION', got {spec!r}.", field="model")
    if "@" in spec:
        name, alias = spec.split("@", 1)
        return _check_name(name), _check_alias(alias), None
    if "/" in spec:
        name, version = spec.split("/", 1)
        if not (version.isascii() and version.isdigit()) or not 1 <= int(version) <= 2**31 - 1:
            raise Invalid(
                f"model version must be a number from 1, got {version!r} in {spec!r}.",
                field="model",
            )
        return _check_name(name), None, int(version)
    return _check_name(spec), "champion", None


def _sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class Registry:
    """Model versions kept in ``root/models`` and described in ``db``."""

    def __init__(self, root, db):
        self.root = Path(root)
        self.db = db
        self._models = OrderedDict()  # (name, version) -> loaded estimator, newest use last
        self._loading = threading.Lock()
        self._pointers = (-1e9, {}, ())  # (loaded at, {name: {alias: version}}, names)
        self._generation = 0  # bumped by every change, so a read racing one is not cached

    #: Seconds the aliases are cached. Changes made through this registry
    #: take effect at once; changes made by another process within this.
    POINTER_TTL = 1.0

    def _cached_pointers(self):
        loaded, pointers, names = self._pointers
        if time.monotonic() - loaded > self.POINTER_TTL:
            generation = self._generation
            with self.db.reading() as connection:
                rows = connection.execute(select(model_aliases)).all()
                names = tuple(
                    connection.execute(select(model_versions.c.name).distinct()).scalars().all()
                )
            pointers = {}
            for r in rows:
                pointers.setdefault(r.name, {})[r.alias] = r.version
            if generation == self._generation:  # no change landed while reading
                self._pointers = (time.monotonic(), pointers, names)
        return pointers, names

    def _forget_pointers(self):
        self._generation += 1
        self._pointers = (-1e9, {}, ())

    # ----------------------------------------------------------- writes
    def add(self, source, name, actor, provenance=None, status="ready"):
        """Register the model file at ``source`` as the next version of
        ``name``. The file is checked as :func:`farout.load` checks it; the
        first version of a model becomes its champion. ``provenance``, a
        JSON-ready dict, says where the version came from (a recalibration
        records its feedback and target). ``status`` ``"rejected"`` stores
        a version that failed its gates (a retraining's), audited as
        ``reject``: kept for the record, never pointed at by this call.

        Returns the version's description (:meth:`version`).
        """
        from ..loading import load

        _check_name(name)
        if status not in STATUSES:
            raise Invalid(f"status must be one of {', '.join(STATUSES)}, got {status!r}.")
        try:
            model = load(source)
        except ModelFileError as error:
            raise Invalid(
                f"the uploaded file is not a usable model: {error}", field="file"
            ) from None
        if not hasattr(model, "findings") or not hasattr(model, "threshold_"):
            raise Invalid(
                f"the uploaded file holds a {type(model).__name__}; the service scores with a "
                "fitted KMeansAnomalyDetector.",
                field="file",
            )
        folder = self.root / "models" / name
        folder.mkdir(parents=True, exist_ok=True)
        features = json.dumps(model.feature_schema())
        sha, size = _sha256(source), os.path.getsize(source)
        actor = str(actor)[:64]
        for attempt in range(5):
            try:
                version, _ = self._store(
                    source, name, actor, folder, model, features, sha, size, provenance, status
                )
                break
            except exc.IntegrityError:  # another process took this number: take the next
                if attempt == 4:
                    raise Conflict(
                        f"model {name!r} is being uploaded concurrently; retry.", field="name"
                    ) from None
        with self._loading:
            self._keep((name, version), model)
        self._forget_pointers()
        return self.version(name, version)

    def _store(self, source, name, actor, folder, model, features, sha, size, provenance, status):
        """One attempt at the next version: its rows and its file, or neither.

        The copy is written and synced before the transaction starts, so the
        database's writer lock (which every scoring commit waits for) is held
        only for the rows and a rename.
        """
        fd, temporary = tempfile.mkstemp(dir=folder, prefix=f".{name}.", suffix=".part")
        final = None
        try:
            try:
                with os.fdopen(fd, "wb") as out, open(source, "rb") as f:
                    for block in iter(lambda: f.read(1 << 20), b""):
                        out.write(block)
                    out.flush()
                    os.fsync(out.fileno())
                os.chmod(temporary, 0o444)
            except OSError as error:  # a full disk: nothing is registered
                raise Unavailable(
                    f"could not store the model file ({error.strerror}); nothing was "
                    "registered. Retry later."
                ) from error
            with self.db.writing() as connection:
                version = 1 + (
                    connection.execute(
                        select(func.max(model_versions.c.version)).where(
                            model_versions.c.name == name
                        )
                    ).scalar()
                    or 0
                )
                file = f"{name}-v{version}.farout"
                connection.execute(
                    insert(model_versions).values(
                        name=name,
                        version=version,
                        sha256=sha,
                        size=size,
                        file=file,
                        estimator=type(model).__name__,
                        features=features,
                        uploaded_by=actor,
                        uploaded_at=time.time(),
                        status=status,
                        provenance=None if provenance is None else json.dumps(provenance),
                    )
                )
                self._audit(connection, actor, "register", name, to_version=version)
                if status == "rejected":
                    self._audit(connection, actor, "reject", name, to_version=version)
                elif version == 1:
                    self._point(connection, name, "champion", 1, actor)
                # renamed last, inside the transaction: a failed commit
                # removes it, and no reader ever sees half a file
                final = folder / file
                os.replace(temporary, final)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            if final is not None and final.exists():  # the commit failed after the rename
                final.unlink()
            raise
        return version, final

    def set_alias(self, name, alias, version, actor):
        """Point ``alias`` of ``name`` at ``version``; returns the audit row."""
        _check_name(name), _check_alias(alias)
        if not isinstance(version, int) or isinstance(version, bool):
            raise Invalid(f"version must be an integer, got {version!r}.", field="version")
        info = self.version(name, version)  # 404 for an unknown one
        if alias == "champion" and info["status"] == "rejected":
            failed = (info.get("provenance") or {}).get("failed") or ["its gates"]
            raise Conflict(
                f"{name}/{version} was rejected by the retraining job (it failed "
                f"{', '.join(map(str, failed))}); it cannot be "
                "champion. Set it as challenger to look at it in shadow, or retrain.",
                field="version",
            )
        try:
            with self.db.writing() as connection:
                return self._point(connection, name, alias, version, actor)
        finally:
            self._forget_pointers()

    def clear_alias(self, name, alias, actor):
        _check_name(name), _check_alias(alias)
        with self.db.writing() as connection:
            before = self._alias_of(connection, name, alias)
            if before is None:
                raise NotFound(f"model {name!r} has no {alias!r} alias set.")
            connection.execute(
                delete(model_aliases).where(
                    model_aliases.c.name == name, model_aliases.c.alias == alias
                )
            )
            row = self._audit(connection, actor, "clear_alias", name, alias, before, None)
        self._forget_pointers()
        return row

    def _point(self, connection, name, alias, version, actor):
        before = self._alias_of(connection, name, alias)
        now = time.time()
        if before is None:
            connection.execute(
                insert(model_aliases).values(
                    name=name, alias=alias, version=version, updated_at=now
                )
            )
        else:
            connection.execute(
                update(model_aliases)
                .where(model_aliases.c.name == name, model_aliases.c.alias == alias)
                .values(version=version, updated_at=now)
            )
        return self._audit(connection, actor, "set_alias", name, alias, before, version)

    @staticmethod
    def _alias_of(connection, name, alias):
        return connection.execute(
            select(model_aliases.c.version).where(
                model_aliases.c.name == name, model_aliases.c.alias == alias
            )
        ).scalar()

    @staticmethod
    def _audit(connection, actor, action, name, alias=None, from_version=None, to_version=None):
        row = dict(
            at=time.time(),
            actor=str(actor)[:64],
            action=action,
            name=name,
            alias=alias,
            from_version=from_version,
            to_version=to_version,
        )
        connection.execute(insert(registry_audit).values(**row))
        return row

    # ------------------------------------------------------------ reads
    def _describe(self, row, aliases):
        out = dict(row)
        out["features"] = json.loads(out["features"])
        out["aliases"] = sorted(a for a, v in aliases.items() if v == out["version"])
        out["provenance"] = json.loads(out["provenance"]) if out["provenance"] else None
        return out

    def aliases(self, name):
        """``{alias: version}`` of ``name`` (cached for :attr:`POINTER_TTL`)."""
        return dict(self._cached_pointers()[0].get(name, {}))

    def version(self, name, version):
        with self.db.reading() as connection:
            row = (
                connection.execute(
                    select(model_versions).where(
                        model_versions.c.name == name, model_versions.c.version == version
                    )
                )
                .mappings()
                .first()
            )
        if row is None:
            raise NotFound(f"model {name!r} has no version {version}; GET /v1/models lists them.")
        return self._describe(row, self.aliases(name))

    def models(self):
        """Every model with its versions and where its aliases point."""
        with self.db.reading() as connection:
            rows = (
                connection.execute(
                    select(model_versions).order_by(model_versions.c.name, model_versions.c.version)
                )
                .mappings()
                .all()
            )
            pointers = connection.execute(select(model_aliases)).all()
        aliases = {}
        for p in pointers:
            aliases.setdefault(p.name, {})[p.alias] = p.version
        out = {}
        for row in rows:
            name = row["name"]
            entry = out.setdefault(
                name, {"name": name, "aliases": aliases.get(name, {}), "versions": []}
            )
            entry["versions"].append(self._describe(row, entry["aliases"]))
        return list(out.values())

    def audit(self, name=None):
        query = select(registry_audit).order_by(registry_audit.c.id)
        if name is not None:
            query = query.where(registry_audit.c.name == name)
        with self.db.reading() as connection:
            return [dict(r) for r in connection.execute(query).mappings()]

    def resolve(self, spec=None):
        """``(name, version, alias)`` that ``spec`` names; with no spec, the
        champion of the only model."""
        if spec is None:
            names = self._cached_pointers()[1]
            if len(names) != 1:
                raise (NotFound if not names else Invalid)(
                    "no model is registered yet; upload one with POST /v1/models."
                    if not names
                    else f"several models are registered ({', '.join(sorted(names))}); "
                    'say which with "model": "NAME@champion".',
                    field="model",
                )
            name, alias, version = names[0], "champion", None
        else:
            name, alias, version = parse_model(spec)
        if version is not None:
            self.version(name, version)
            return name, version, None
        pointed = self.aliases(name).get(alias)
        if pointed is None:
            if name not in self._cached_pointers()[1]:
                raise NotFound(
                    f"no model is named {name!r}; GET /v1/models lists them.", field="model"
                )
            raise Conflict(
                f"model {name!r} has no {alias!r}; set one with PUT /v1/models/{name}/aliases/{alias}.",
                field="model",
            )
        return name, pointed, alias

    #: Loaded versions kept in memory; the least recently used one beyond
    #: this is dropped (and loaded again, checked again, if it is asked for).
    MAX_LOADED = 8

    def _keep(self, key, model):
        # called holding self._loading
        self._models[key] = model
        self._models.move_to_end(key)
        while len(self._models) > self.MAX_LOADED:
            self._models.popitem(last=False)

    def exists(self, name):
        """Whether any version of ``name`` is registered."""
        with self.db.reading() as connection:
            found = connection.execute(
                select(model_versions.c.version).where(model_versions.c.name == name).limit(1)
            ).first()
        return found is not None

    def load(self, name, version):
        """The estimator of a version, loaded once and checked against its
        recorded SHA-256."""
        key = (name, version)
        model = self._models.get(key)
        if model is not None:
            try:
                self._models.move_to_end(key)
            except KeyError:  # dropped by another thread meanwhile; this one still holds it
                pass
            return model
        from ..loading import load

        with self._loading:
            model = self._models.get(key)
            if model is None:
                info = self.version(name, version)
                path = self.root / "models" / name / info["file"]
                if not path.exists() or _sha256(path) != info["sha256"]:
                    raise Conflict(
                        f"the file of {name}/{version} is missing or changed since it was "
                        "registered (its SHA-256 differs); restore it from a backup."
                    )
                model = load(path)
                self._keep(key, model)
            return model
