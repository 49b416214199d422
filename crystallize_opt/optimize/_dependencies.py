"""Optional packages that some of Optuna's samplers need, checked before a study starts.

Optuna imports them lazily, at the first proposal that uses them: ``GPSampler`` after its
startup trials, possibly hours into a study. Checking when the optimizer is built turns that
late ``ModuleNotFoundError`` into an error before anything runs, saying what to install.
"""

from __future__ import annotations

import importlib.util

from optuna.samplers import BaseSampler

from ..exceptions import ConfigurationError

#: Optuna sampler class name -> the package it imports when it proposes (a subclass, such as
#: :class:`~crystallize_opt.ResumableCmaEsSampler`, needs what its Optuna class needs).
_NEEDS = {"GPSampler": "torch", "CmaEsSampler": "cmaes"}


def check_sampler_dependencies(sampler: BaseSampler | None) -> None:
    """Check that the packages ``sampler`` needs to propose parameters are installed.

    Raises:
        ConfigurationError: naming the sampler, the missing package and the extra that installs it.
    """
    if sampler is None:
        return
    name = type(sampler).__name__
    package = next((_NEEDS[c.__name__] for c in type(sampler).__mro__ if c.__name__ in _NEEDS), None)
    if package is None or importlib.util.find_spec(package) is not None:
        return
    hint = " (PyTorch's CPU build is enough: see the README's set-up)" if package == "torch" else ""
    raise ConfigurationError(
        f"Optuna's {name} needs the {package!r} package, which is not installed: "
        f"pip install 'crystallize-opt[samplers]'{hint}"
    )
