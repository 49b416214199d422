"""Optimization of treatments with Optuna (see :class:`OptunaOptimizer`)."""
