"""The linear floors: trained to convergence, L2 chosen on validation, equal to an independent solver."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import minimize
from scipy.special import logsumexp

from fer_compare.floors import fit_floor
from fer_compare.kinds import kind
from fer_compare.protocol import plan_folds, prepare
from fer_compare.settings import updated


def scipy_softmax_regression(x: np.ndarray, y: np.ndarray, classes: int, l2: float) -> tuple[float, np.ndarray]:
    """An independent solver: L-BFGS on mean cross-entropy + l2 * |W|^2 / 2 (biases free)."""
    n, d = x.shape

    def objective(theta: np.ndarray) -> tuple[float, np.ndarray]:
        w, b = theta[: d * classes].reshape(d, classes), theta[d * classes:]
        logits = x @ w + b
        log_p = logits - logsumexp(logits, axis=1, keepdims=True)
        loss = -log_p[np.arange(n), y].mean() + 0.5 * l2 * (w**2).sum()
        g = np.exp(log_p)
        g[np.arange(n), y] -= 1
        g /= n
        return loss, np.concatenate([(x.T @ g + l2 * w).ravel(), g.sum(axis=0)])

    result = minimize(objective, np.zeros(d * classes + classes), jac=True, method="L-BFGS-B",
                      options={"maxiter": 5000, "gtol": 1e-9})
    return float(result.fun), result.x


@pytest.mark.parametrize("name", ["linear_landmarks", "linear_laplacian"])
def test_a_floor_reaches_the_independent_solvers_optimum_and_predictions(london_stages, name):
    config = updated(london_stages, {"evaluation.folds": 3})
    prepared = prepare(config, [name])
    data = prepared.datasets[name]
    split = plan_folds(prepared, config)[0].split(data)
    floor = fit_floor(name, data, split, config.evaluation.floor)
    # The validation sweep chose the L2 with the lowest validation loss.
    assert floor.l2 == min(floor.history, key=lambda r: r["validation_loss"])["l2"]
    assert [r["l2"] for r in floor.history] == sorted(config.evaluation.floor.l2, reverse=True)
    # At that L2, the same standardised inputs and loss, scipy's L-BFGS finds the same optimum.
    x = kind(name).to_input(data.x[split.train]).astype(np.float64)
    mean, std = floor.model.scaling.feature_mean.numpy(), floor.model.scaling.feature_std.numpy()
    z = (x - mean) / std
    optimum, theta = scipy_softmax_regression(z, data.y[split.train], len(data.classes), floor.l2)
    w, b = floor.model.out.w.numpy(), floor.model.out.b.numpy()
    logits = z @ w + b
    ours = float(-(logits - logsumexp(logits, axis=1, keepdims=True))[np.arange(len(z)), data.y[split.train]].mean()
                 + 0.5 * floor.l2 * (w**2).sum())
    assert ours == pytest.approx(optimum, rel=2e-3, abs=2e-4)
    d = z.shape[1]
    test = (kind(name).to_input(data.x[split.test]) - mean) / std
    theirs = (test @ theta[: d * len(data.classes)].reshape(d, -1) + theta[d * len(data.classes):]).argmax(1)
    np.testing.assert_array_equal(floor.predict(data.x[split.test]).argmax(1), theirs)


def test_a_floor_without_validation_subjects_takes_the_middle_strength(london_stages):
    config = updated(london_stages, {"split.validation_fraction": 0.0})
    prepared = prepare(config, ["linear_landmarks"])
    data = prepared.datasets["linear_landmarks"]
    split = plan_folds(prepared, config)[0].split(data)
    floor = fit_floor("linear_landmarks", data, split, config.evaluation.floor)
    grid = sorted(config.evaluation.floor.l2, reverse=True)
    assert floor.l2 == grid[len(grid) // 2] and floor.extra["chosen_on"] == "no validation set"
