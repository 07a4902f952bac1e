"""Whether a difference between two models is real: paired tests over the same folds.

Two models scored on the same test photos of the same folds give one accuracy difference per
fold. With one K-fold assignment the test is the paired t-test over the K differences
(scipy.stats.ttest_1samp on the differences, the same as ttest_rel); its 95 % interval is the
t interval of the mean difference. With R repeated assignments the K·R differences share
training photos, and a plain t-test would be far too confident: the variance is then inflated
by Nadeau and Bengio's correction (1/n + n_test/n_train), the "corrected resampled t-test".
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

PLAIN = "paired t-test over folds"
CORRECTED = "corrected resampled t-test over folds × repeats (Nadeau & Bengio 2003)"


@dataclass(frozen=True)
class PairedDifference:
    """Mean of a − b over paired folds, its 95 % confidence interval and the two-sided p-value."""

    a: str
    b: str
    differences: tuple[float, ...]
    mean_difference: float
    ci95: tuple[float, float]
    p_value: float
    test: str

    @property
    def resolved(self) -> bool:
        """The interval excludes 0: the sign of the difference is established at the 5 % level."""
        lo, hi = self.ci95
        return math.isfinite(lo) and math.isfinite(hi) and (lo > 0 or hi < 0)

    def verdict(self) -> str:
        """a against b in words."""
        if not self.resolved:
            return "no resolved difference"
        return "better" if self.mean_difference > 0 else "worse"


def paired_difference(a: str, b: str, differences: list[float] | np.ndarray, repeats: int = 1,
                      test_train_ratio: float | None = None) -> PairedDifference:
    """The paired comparison of per-fold differences a − b.

    `repeats` > 1 with `test_train_ratio` (test photos / training photos of a fold) applies the
    corrected resampled t-test. Identical differences (zero variance) give a zero-width interval:
    p = 1 when they are all 0, p = 0 otherwise. Fewer than two folds give no interval (NaN).
    """
    d = np.asarray(differences, dtype=np.float64)
    n = len(d)
    mean = float(d.mean()) if n else math.nan
    corrected = repeats > 1 and test_train_ratio is not None
    test = CORRECTED if corrected else PLAIN
    if n < 2:
        return PairedDifference(a, b, tuple(map(float, d)), mean, (math.nan, math.nan), math.nan, test)
    sd = float(d.std(ddof=1))
    if sd == 0.0:
        return PairedDifference(a, b, tuple(map(float, d)), mean, (mean, mean), 1.0 if mean == 0 else 0.0, test)
    if corrected:
        se = sd * math.sqrt(1.0 / n + float(test_train_ratio))
        t_value = mean / se
        p = float(2 * stats.t.sf(abs(t_value), df=n - 1))
        half = float(stats.t.ppf(0.975, df=n - 1)) * se
        ci = (mean - half, mean + half)
    else:
        result = stats.ttest_1samp(d, 0.0)
        p = float(result.pvalue)
        low, high = result.confidence_interval(0.95)
        ci = (float(low), float(high))
    return PairedDifference(a, b, tuple(map(float, d)), mean, ci, p, test)
