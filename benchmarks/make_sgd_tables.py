"""Precompute the tabular "real training noise" problems of the noise suite (``_noise_problems.py``).

A substitute for a published tabular HPO benchmark (see benchmarks/README.md, "Noise-aware
optimization"): scikit-learn's ``SGDClassifier`` trained on a data set that scikit-learn ships
(no download), over a grid of hyperparameters x 20 seeds. The seed draws the stratified 70/30
train/validation split *and* the classifier's shuffling, so the noise is real training noise with
a part shared by every configuration on a seed (the split). Each entry is the validation error.

Needs scikit-learn (the benchmark venv, not the package's)::

    PYTHONPATH=. /work/benchvenv/bin/python benchmarks/make_sgd_tables.py   # ~2-4 min, one core

writes ``benchmarks/data/sgd_tables.json`` (committed; the benchmark only reads it).
"""

from __future__ import annotations

import itertools
import json
import time
import warnings
from pathlib import Path

import numpy as np

#: The grid: (parameter, choices). alpha is ordinal (an integer index), the others categorical.
GRID = [
    ("loss", ["hinge", "log_loss", "modified_huber"]),
    ("penalty", ["l2", "l1", "elasticnet"]),
    ("alpha", [1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1]),
    ("schedule", ["optimal", "constant", "adaptive"]),
]
SEEDS = 20
DATASETS = {"sgd_breast_cancer": ("load_breast_cancer", 15), "sgd_digits": ("load_digits", 8)}
OUT = Path(__file__).resolve().parent / "data" / "sgd_tables.json"


def main() -> None:
    from sklearn import datasets
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import SGDClassifier
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    warnings.filterwarnings("ignore", category=ConvergenceWarning)
    out = {}
    for name, (loader, epochs) in DATASETS.items():
        started = time.perf_counter()
        X, y = getattr(datasets, loader)(return_X_y=True)
        configs = list(itertools.product(*[range(len(c)) for _, c in GRID]))
        values = np.zeros((len(configs), SEEDS))
        for j in range(SEEDS):
            Xtr, Xva, ytr, yva = train_test_split(X, y, test_size=0.3, stratify=y, random_state=j)
            scaler = StandardScaler().fit(Xtr)
            Xtr, Xva = scaler.transform(Xtr), scaler.transform(Xva)
            for k, idx in enumerate(configs):
                p = {n: c[i] for (n, c), i in zip(GRID, idx, strict=True)}
                model = SGDClassifier(
                    loss=p["loss"],
                    penalty=p["penalty"],
                    alpha=p["alpha"],
                    learning_rate=p["schedule"],
                    eta0=0.01,
                    max_iter=epochs,
                    tol=None,
                    random_state=j,
                )
                model.fit(Xtr, ytr)
                values[k, j] = 1.0 - model.score(Xva, yva)
        out[name] = {
            "source": f"sklearn.datasets.{loader}, SGDClassifier max_iter={epochs} tol=None eta0=0.01, "
            "stratified 70/30 split and classifier random_state = seed; validation error",
            "grid": [[n, [str(c) for c in ch]] for n, ch in GRID],
            "seeds": SEEDS,
            "values": [[round(float(v), 5) for v in row] for row in values],
        }
        mean = values.mean(axis=1)
        print(
            f"{name}: {len(configs)} configs x {SEEDS} seeds in {time.perf_counter() - started:.0f} s; "
            f"best mean {mean.min():.4f}, median {np.median(mean):.4f}, median per-config sd "
            f"{np.median(values.std(axis=1)):.4f}"
        )
    OUT.parent.mkdir(exist_ok=True)
    OUT.write_text(json.dumps(out, separators=(",", ":")) + "\n")


if __name__ == "__main__":
    main()
