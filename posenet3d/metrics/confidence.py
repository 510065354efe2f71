"""Does a confidence mean anything? Errors grouped by confidence quantile."""
from __future__ import annotations

import numpy as np


def error_by_confidence(err_mm: np.ndarray, conf: np.ndarray, bins: int = 10) -> list[dict]:
    """Mean error per confidence quantile bin, lowest confidence first.

    ``err_mm`` and ``conf`` are paired samples of any shape (e.g. one per joint). The samples are sorted by
    confidence and cut into ``bins`` groups of (nearly) equal count; each row holds the group's confidence range
    (``conf_low``, ``conf_high``), ``count``, ``mean_err_mm`` and ``median_err_mm``. A useful confidence gives errors
    that fall from the first row to the last."""
    e = np.asarray(err_mm, dtype=np.float64).ravel()
    c = np.asarray(conf, dtype=np.float64).ravel()
    if e.shape != c.shape:
        raise ValueError(f"error_by_confidence: {e.size} errors but {c.size} confidences")
    keep = np.isfinite(e) & np.isfinite(c)
    e, c = e[keep], c[keep]
    order = np.argsort(c, kind="stable")
    rows = []
    for group in np.array_split(order, min(bins, len(order))) if len(order) else []:
        rows.append({"conf_low": float(c[group].min()), "conf_high": float(c[group].max()), "count": int(group.size),
                     "mean_err_mm": float(e[group].mean()), "median_err_mm": float(np.median(e[group]))})
    return rows
