"""The compiled column statistics against their NumPy reference."""

import numpy as np
import pytest

from farout._kernels.stats import column_moments, column_moments_numpy


@pytest.mark.parametrize("n", [7, 5000, 50_001])  # one task, and several
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_column_moments_match_numpy(rng, n, dtype):
    X = (rng.normal(size=(n, 4)) * [1.0, 1e-3, 1e3, 0.0] + [0.0, 1e4, -5.0, 2.0]).astype(dtype)
    got = column_moments(X)
    ref = column_moments_numpy(X)
    assert got[0] == ref[0] == n
    for a, b in zip(got[1:], ref[1:], strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf, 1e200])
def test_column_moments_refuse_values_the_general_path_must_name(rng, bad):
    X = rng.normal(size=(20_000, 3))
    X[12_345, 2] = bad
    assert column_moments(X, limit=1e150) is None
