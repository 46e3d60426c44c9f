import hashlib
import json
import zipfile

import numpy as np
import pandas as pd
import pytest


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def two_blobs_and_far_point(rng, n=60):
    """Two tight blobs in different directions, plus one point far from both
    (also far in angle, so cosine sees it too). The far point is the last row."""
    a = rng.normal([5.0, 0.0, 1.0], 0.2, size=(n, 3))
    b = rng.normal([0.0, 5.0, 1.0], 0.2, size=(n, 3))
    far = np.array([[-6.0, -6.0, 9.0]])
    return np.vstack([a, b, far])


@pytest.fixture
def toy(rng):
    return two_blobs_and_far_point(rng)


@pytest.fixture
def transactions():
    from farout.datasets import make_transactions

    data = make_transactions(3000, random_state=1)
    return data.drop(columns=["is_fraud", "fraud_type"]), data["is_fraud"]


@pytest.fixture
def mixed_frame(rng):
    n = 200
    return pd.DataFrame(
        {
            "amount": rng.lognormal(3, 0.5, n),
            "kind": rng.choice(["a", "b", "c"], n),
            "hour": rng.integers(0, 24, n),
        },
        index=pd.Index([f"t{i}" for i in range(n)], name="txn"),
    )


def rewrite_zip(path, out, change):
    """Copy a model zip, letting ``change(name, data)`` alter each member."""
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(out, "w") as dst:
        for name in src.namelist():
            data = change(name, src.read(name))
            if data is not None:
                dst.writestr(name, data)
    return out


def swap_array(path, out, name, payload):
    """Copy a model zip with array ``name`` replaced by ``payload`` bytes and
    its hash in the manifest updated to match (a forged, not a damaged, file)."""

    def change(member, data):
        if member == f"arrays/{name}.npy":
            return payload
        if member == "manifest.json":
            manifest = json.loads(data)
            manifest["arrays"][name]["sha256"] = hashlib.sha256(payload).hexdigest()
            return json.dumps(manifest)
        return data

    return rewrite_zip(path, out, change)


@pytest.fixture(scope="session")
def postgres():
    """A real PostgreSQL server on 127.0.0.1 for the session (tests/servers.py)."""
    from servers import Postgres

    cluster = Postgres()
    yield cluster
    cluster.close()
