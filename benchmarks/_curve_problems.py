"""Real training problems for ``bench_curve_pruning.py``: small models trained epoch by epoch.

Every problem is a classifier trained for ``EPOCHS`` epochs on a dataset that scikit-learn ships
(the ``torch_*`` problems train a PyTorch MLP on them). The seed of a replicate
draws the stratified train/validation split (half and half), the order of the examples in every
epoch and the model's initialisation, so two seeds give two different learning curves for one
configuration: that is the between-seed noise. The value at epoch ``e`` is the validation error
(1 - accuracy) after ``e`` epochs: what the pruner sees, and at the last epoch what is optimized.

The search space is a small grid (integer indices, so every configuration has a true value that
is computed once): ``true_values`` averages the last-epoch error over ``TRUE_SEEDS`` fresh seeds,
disjoint from every seed an optimizer run uses, and caches it in ``data/curve_true_values.json``.

A curve is deterministic in (configuration, seed); ``curve`` trains it once for all epochs and
memoizes it, so the methods that reach the same (configuration, seed) share the training while
each is charged for the epochs it asked for (see the README's method section).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

EPOCHS = 20
TRUE_SEEDS = 24
TRUE_SEED_BASE = 1_000_000  # fresh seeds: optimizer runs use seeds derived from small master seeds
CACHE = Path(__file__).resolve().parent / "data" / "curve_true_values.json"

Config = tuple[int, ...]


@dataclasses.dataclass(frozen=True)
class Problem:
    """One training problem: a model, a dataset and a grid of hyperparameters (integer indices)."""

    name: str
    dataset: str
    model: str  # "sgd", "mlp" (scikit-learn MLPClassifier), "torch" (Adam) or "torch_sgd"
    space: Mapping[str, tuple[int, int]]  # name -> inclusive integer range
    describe: str

    def configs(self) -> list[Config]:
        grids = [range(lo, hi + 1) for lo, hi in self.space.values()]
        return [
            tuple(int(v) for v in c)
            for c in np.array(np.meshgrid(*grids, indexing="ij")).reshape(len(grids), -1).T
        ]

    def params(self, config: Config) -> dict[str, int]:
        return dict(zip(self.space, config, strict=True))

    def config_of(self, params: Mapping[str, Any]) -> Config:
        return tuple(int(params[k]) for k in self.space)


# Grids: the learning rate (and, where there is one, the L2 penalty) in half decades.
SGD_SPACE = {
    "lr_idx": (0, 8),
    "alpha_idx": (0, 5),
}  # eta0 = 10**(-4 + lr_idx/2), alpha = 10**(-6 + alpha_idx)
MLP_SPACE = {
    "lr_idx": (0, 6),
    "alpha_idx": (0, 4),
    "width_idx": (0, 2),
}  # lr 10**(-4+i/2), alpha 10**(-5+i), 8/32/128
# Plain SGD with momentum 0.9 near its edge of stability: the learning rate in quarter decades
# up to 10**0.25, where training diverges on some seeds and not on others (unstable training).
TORCH_SGD_SPACE = {
    "lr_idx": (0, 13),
    "alpha_idx": (0, 2),
    "width_idx": (0, 2),
}  # lr 10**(-3+i/4), weight decay 10**(-5+i), 8/32/128

PROBLEMS: dict[str, Problem] = {
    p.name: p
    for p in [
        Problem(
            "sgd_digits",
            "digits",
            "sgd",
            SGD_SPACE,
            "SGD logistic regression, digits (1797 x 64, 10 classes)",
        ),
        Problem("sgd_wine", "wine", "sgd", SGD_SPACE, "SGD logistic regression, wine (178 x 13, 3 classes)"),
        Problem(
            "sgd_cancer",
            "breast_cancer",
            "sgd",
            SGD_SPACE,
            "SGD logistic regression, breast cancer (569 x 30)",
        ),
        Problem("mlp_wine", "wine", "mlp", MLP_SPACE, "scikit-learn MLP (Adam), wine"),
        Problem("mlp_cancer", "breast_cancer", "mlp", MLP_SPACE, "scikit-learn MLP (Adam), breast cancer"),
        Problem("torch_digits", "digits", "torch", MLP_SPACE, "PyTorch MLP (Adam, batch 64, CPU), digits"),
        Problem(
            "torch_cancer",
            "breast_cancer",
            "torch",
            MLP_SPACE,
            "PyTorch MLP (Adam, batch 64, CPU), breast cancer",
        ),
        Problem("torch_wine", "wine", "torch", MLP_SPACE, "PyTorch MLP (Adam, batch 64, CPU), wine"),
        Problem(
            "torch_sgd_digits",
            "digits",
            "torch_sgd",
            TORCH_SGD_SPACE,
            "PyTorch MLP (SGD, momentum 0.9, batch 32, CPU) near its edge of stability, digits",
        ),
    ]
}
TUNING = ("sgd_cancer", "mlp_wine", "sgd_digits")
TEST = ("sgd_wine", "mlp_cancer", "torch_cancer", "torch_wine", "torch_sgd_digits")


@functools.cache
def _dataset(name: str) -> tuple[np.ndarray, np.ndarray]:
    from sklearn import datasets

    X, y = getattr(datasets, f"load_{name}")(return_X_y=True)
    return np.asarray(X, dtype=np.float64), np.asarray(y)


def _split(name: str, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A stratified half/half split drawn by ``seed``, standardized on its training half."""
    X, y = _dataset(name)
    rng = np.random.default_rng(seed)
    train = np.zeros(len(y), dtype=bool)
    for label in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == label))
        train[idx[: len(idx) // 2]] = True
    mean, std = X[train].mean(axis=0), X[train].std(axis=0) + 1e-8
    Xs = (X - mean) / std
    return Xs[train], y[train], Xs[~train], y[~train]


def _train_sgd(problem: Problem, config: Config, seed: int) -> list[float]:
    from sklearn.linear_model import SGDClassifier

    p = problem.params(config)
    Xt, yt, Xv, yv = _split(problem.dataset, seed)
    rng = np.random.default_rng(seed + 1)
    model = SGDClassifier(
        loss="log_loss",
        learning_rate="constant",
        eta0=10.0 ** (-4 + p["lr_idx"] / 2),
        alpha=10.0 ** (-6 + p["alpha_idx"]),
        random_state=int(rng.integers(2**31)),
    )
    classes = np.unique(yt)
    curve = []
    for _ in range(EPOCHS):
        order = rng.permutation(len(yt))
        model.partial_fit(Xt[order], yt[order], classes=classes)
        curve.append(float(np.mean(model.predict(Xv) != yv)))
    return curve


def _train_mlp(problem: Problem, config: Config, seed: int) -> list[float]:
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    p = problem.params(config)
    Xt, yt, Xv, yv = _split(problem.dataset, seed)
    model = MLPClassifier(
        hidden_layer_sizes=(8 * 4 ** p["width_idx"],),
        learning_rate_init=10.0 ** (-4 + p["lr_idx"] / 2),
        alpha=10.0 ** (-5 + p["alpha_idx"]),
        batch_size=32,
        random_state=(seed + 1) % 2**32,  # initialisation and the order of the minibatches
    )
    classes = np.unique(yt)
    curve = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for _ in range(EPOCHS):
            model.partial_fit(Xt, yt, classes=classes)
            curve.append(float(np.mean(model.predict(Xv) != yv)))
    return curve


def _train_torch(problem: Problem, config: Config, seed: int) -> list[float]:
    import torch

    torch.set_num_threads(1)
    p = problem.params(config)
    Xt, yt, Xv, yv = _split(problem.dataset, seed)
    gen = torch.Generator().manual_seed(seed + 1)
    xt, xv = torch.tensor(Xt, dtype=torch.float32), torch.tensor(Xv, dtype=torch.float32)
    ytt, yvt = torch.tensor(yt), torch.tensor(yv)
    width = 8 * 4 ** p["width_idx"]
    n_classes = int(max(yt.max(), yv.max())) + 1
    torch.manual_seed(int(torch.randint(0, 2**31, (1,), generator=gen)))
    model = torch.nn.Sequential(
        torch.nn.Linear(xt.shape[1], width), torch.nn.ReLU(), torch.nn.Linear(width, n_classes)
    )
    decay = 10.0 ** (-5 + p["alpha_idx"])
    if problem.model == "torch_sgd":
        lr, batch_size = 10.0 ** (-3 + p["lr_idx"] / 4), 32
        opt: torch.optim.Optimizer = torch.optim.SGD(
            model.parameters(), lr=lr, momentum=0.9, weight_decay=decay
        )
    else:
        lr, batch_size = 10.0 ** (-4 + p["lr_idx"] / 2), 64
        opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=decay)
    curve = []
    for _ in range(EPOCHS):
        order = torch.randperm(len(ytt), generator=gen)
        for start in range(0, len(order), batch_size):
            batch = order[start : start + batch_size]
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(xt[batch]), ytt[batch]).backward()
            opt.step()
        with torch.no_grad():
            curve.append(float((model(xv).argmax(dim=1) != yvt).float().mean()))
    return curve


_TRAINERS: dict[str, Callable[[Problem, Config, int], list[float]]] = {
    "sgd": _train_sgd,
    "mlp": _train_mlp,
    "torch": _train_torch,
    "torch_sgd": _train_torch,
}


@functools.lru_cache(maxsize=200_000)
def curve(problem_name: str, config: Config, seed: int) -> tuple[float, ...]:
    """The validation-error curve (one value per epoch) of ``config`` trained on ``seed``."""
    problem = PROBLEMS[problem_name]
    return tuple(_TRAINERS[problem.model](problem, config, seed))


def true_values(problem_name: str, log: Callable[[str], None] = print) -> dict[Config, float]:
    """The true value of every configuration: mean last-epoch error over ``TRUE_SEEDS`` fresh seeds.

    Computed once and cached in ``CACHE`` (keyed by problem, epochs and number of seeds).
    """
    key = f"{problem_name}/epochs={EPOCHS}/seeds={TRUE_SEEDS}"
    stored: dict[str, dict[str, float]] = json.loads(CACHE.read_text()) if CACHE.exists() else {}
    problem = PROBLEMS[problem_name]
    if key not in stored:
        log(
            f"computing true values of {problem_name} ({len(problem.configs())} configurations x {TRUE_SEEDS} seeds)"
        )
        stored = json.loads(CACHE.read_text()) if CACHE.exists() else {}
        stored[key] = {
            ",".join(map(str, c)): float(
                np.mean(
                    [_TRAINERS[problem.model](problem, c, TRUE_SEED_BASE + s)[-1] for s in range(TRUE_SEEDS)]
                )
            )
            for c in problem.configs()
        }
        CACHE.parent.mkdir(exist_ok=True)
        CACHE.write_text(json.dumps(stored, indent=0, sort_keys=True))
    return {tuple(int(v) for v in k.split(",")): v for k, v in stored[key].items()}


def noise_summary(problem_name: str, truth: Mapping[Config, float], seeds: int = 8) -> dict[str, float]:
    """How noisy the problem is: the between-seed standard deviation of the last-epoch error
    (median over the 10 best configurations, ``seeds`` seeds each) against the spread of the true
    values of those configurations (their standard deviation); ``ratio`` = noise / spread."""
    best = sorted(truth, key=truth.__getitem__)[:10]
    sds = [
        float(np.std([curve(problem_name, c, TRUE_SEED_BASE + s)[-1] for s in range(seeds)], ddof=1))
        for c in best
    ]
    spread = float(np.std([truth[c] for c in best], ddof=1))
    noise = float(np.median(sds))
    return {"noise_sd": noise, "top10_spread": spread, "ratio": noise / spread if spread > 0 else math.inf}
