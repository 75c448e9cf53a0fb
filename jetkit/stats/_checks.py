"""Input checks of the statistics code (only on concrete values; traced values pass through)."""

from __future__ import annotations

import numpy as np

from jetkit.validation import is_concrete


def _check_positive(value, name: str, what: str) -> None:
    if is_concrete(value):
        v = np.asarray(value)
        if not np.all(np.isfinite(v)) or np.any(v <= 0):
            raise ValueError(f"{name} must be > 0 (and finite), got {value!r}. {what}")


def _check_keep(keep: str) -> None:
    if keep not in ("above", "below"):
        raise ValueError(f"keep must be 'above' (x > threshold) or 'below' (x < threshold), got {keep!r}")


def _check_yields(s, b, sigma_b=None) -> None:
    if not is_concrete(s, b) or (sigma_b is not None and not is_concrete(sigma_b)):
        return
    s_, b_ = np.asarray(s, dtype=np.float64), np.asarray(b, dtype=np.float64)
    for name, v in (("s", s_), ("b", b_)):
        if not np.all(np.isfinite(v)):
            raise ValueError(f"{name} contains NaN or infinite yields; check the weights and the selection.")
        if np.any(v < 0):
            raise ValueError(
                f"negative {'signal' if name == 's' else 'background'} yield {name} = {v[v < 0][:3].tolist()}; "
                "expected event counts must be >= 0 (are some event weights negative?)."
            )
    if np.any(b_ == 0):
        raise ValueError(
            f"empty background bin(s) (b = 0 at {np.argwhere(b_ == 0)[:5].ravel().tolist()}): the Asimov "
            "significance is infinite there. Use fewer or wider bins, loosen the cut, or use more "
            "background events."
        )
    if sigma_b is not None:
        sb = np.asarray(sigma_b, dtype=np.float64)
        if not np.all(np.isfinite(sb)) or np.any(sb < 0):
            raise ValueError(f"sigma_b must be >= 0 and finite, got {sigma_b!r}")
