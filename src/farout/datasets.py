"""Generated data sets with planted anomalies, for the demo and the tests.

>>> data = make_transactions(1000, random_state=0)
>>> sorted(data["fraud_type"].unique())
['luxury_abroad', 'night_cash', 'none', 'small_burst']
"""

import numpy as np
import pandas as pd

from .exceptions import InputError

__all__ = ["make_transactions"]

# segment: (share, amount multiplier, busiest hour, daily transactions)
_SEGMENTS = {
    "student": (0.25, 0.6, 17.0, 3.0),
    "professional": (0.40, 1.0, 13.0, 2.5),
    "retiree": (0.20, 0.8, 11.0, 1.5),
    "business": (0.15, 1.8, 12.0, 6.0),
}

# category: (share among normal purchases, median amount, median km from home)
_CATEGORIES = {
    "grocery": (0.30, 45.0, 3.0),
    "restaurant": (0.18, 35.0, 6.0),
    "fuel": (0.12, 55.0, 8.0),
    "online_retail": (0.15, 70.0, 0.0),
    "pharmacy": (0.06, 25.0, 3.0),
    "entertainment": (0.08, 40.0, 10.0),
    "electronics": (0.04, 180.0, 12.0),
    "travel": (0.04, 350.0, 150.0),
    "jewelry": (0.01, 220.0, 10.0),
    "cash_advance": (0.02, 120.0, 4.0),
}


def make_transactions(n_rows=20_000, fraud_rate=0.025, random_state=0):
    """Credit-card transactions with a few percent of planted fraud.

    Normal customers fall into four segments that differ in spending level,
    time of day and activity. Fraud comes in three kinds, in equal parts:

    * ``luxury_abroad``: a large jewelry or electronics purchase thousands of
      kilometres from home;
    * ``small_burst``: a card-testing burst, dozens of transactions in a day,
      each for a few units of money, online;
    * ``night_cash``: a cash-like purchase (cash advance) between 1 and 4 am.

    Returns
    -------
    DataFrame with columns ``amount``, ``merchant_category`` (text),
    ``hour``, ``distance_from_home_km``, ``txn_last_24h``,
    ``customer_segment`` (text), ``is_fraud`` (0/1) and ``fraud_type``.
    """
    if not isinstance(n_rows, (int, np.integer)) or n_rows < 100:
        raise InputError(f"n_rows must be an int >= 100, got {n_rows!r}.")
    if not 0 < fraud_rate < 0.5:
        raise InputError(f"fraud_rate must be in (0, 0.5), got {fraud_rate!r}.")
    rng = np.random.default_rng(random_state)
    n_fraud = max(3, int(round(n_rows * fraud_rate)))
    normal = _normal_transactions(rng, n_rows - n_fraud)
    kinds = np.array(["luxury_abroad", "small_burst", "night_cash"])[np.arange(n_fraud) % 3]
    fraud = _fraud_transactions(rng, kinds)
    data = pd.concat([normal, fraud], ignore_index=True)
    data = data.iloc[rng.permutation(len(data))].reset_index(drop=True)
    return data


def _normal_transactions(rng, n):
    seg_names = list(_SEGMENTS)
    seg_share = np.array([_SEGMENTS[s][0] for s in seg_names])
    segment = rng.choice(len(seg_names), size=n, p=seg_share)
    cat_names = list(_CATEGORIES)
    cat_share = np.array([_CATEGORIES[c][0] for c in cat_names])
    category = rng.choice(len(cat_names), size=n, p=cat_share / cat_share.sum())

    multiplier = np.array([_SEGMENTS[s][1] for s in seg_names])[segment]
    median_amount = np.array([_CATEGORIES[c][1] for c in cat_names])[category]
    amount = median_amount * multiplier * rng.lognormal(0.0, 0.45, n)

    busiest = np.array([_SEGMENTS[s][2] for s in seg_names])[segment]
    hour = np.clip(np.round(rng.normal(busiest, 3.0, n)), 6, 23)

    median_km = np.array([_CATEGORIES[c][2] for c in cat_names])[category]
    km = np.where(median_km > 0, median_km * rng.lognormal(0.0, 0.6, n), 0.0)

    daily = np.array([_SEGMENTS[s][3] for s in seg_names])[segment]
    txn = rng.poisson(daily) + 1
    return pd.DataFrame(
        {
            "amount": np.round(amount, 2),
            "merchant_category": np.array(cat_names)[category],
            "hour": hour.astype(int),
            "distance_from_home_km": np.round(km, 1),
            "txn_last_24h": txn,
            "customer_segment": np.array(seg_names)[segment],
            "is_fraud": 0,
            "fraud_type": "none",
        }
    )


def _fraud_transactions(rng, kinds):
    n = kinds.shape[0]
    segment = rng.choice(list(_SEGMENTS), size=n)
    amount = np.empty(n)
    category = np.empty(n, dtype=object)
    hour = rng.integers(9, 22, n).astype(float)
    km = np.empty(n)
    txn = np.empty(n)

    lux = kinds == "luxury_abroad"
    amount[lux] = rng.uniform(1500, 9000, lux.sum())
    category[lux] = rng.choice(["jewelry", "electronics"], lux.sum())
    km[lux] = rng.uniform(2000, 9000, lux.sum())
    txn[lux] = rng.poisson(2.0, lux.sum()) + 1

    burst = kinds == "small_burst"
    amount[burst] = rng.uniform(1.0, 9.0, burst.sum())
    category[burst] = "online_retail"
    km[burst] = 0.0
    txn[burst] = rng.integers(25, 70, burst.sum())

    night = kinds == "night_cash"
    amount[night] = rng.uniform(250, 900, night.sum())
    category[night] = "cash_advance"
    hour[night] = rng.integers(1, 5, night.sum())
    km[night] = rng.uniform(20, 120, night.sum())
    txn[night] = rng.poisson(3.0, night.sum()) + 1
    return pd.DataFrame(
        {
            "amount": np.round(amount, 2),
            "merchant_category": category.astype(str),
            "hour": hour.astype(int),
            "distance_from_home_km": np.round(km, 1),
            "txn_last_24h": txn.astype(int),
            "customer_segment": segment,
            "is_fraud": 1,
            "fraud_type": kinds,
        }
    )
