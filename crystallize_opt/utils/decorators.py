"""Compatibility path: crystallize-ml's ``crystallize.utils.decorators`` (the decorators, and the constants it re-exported).

A thin re-export so ``from crystallize_opt.utils.decorators import ...`` works where a crystallize-ml 0.27
user wrote ``from crystallize.utils.decorators import ...``; the objects are the ones
``crystallize_opt`` exports (see docs/migrating-from-crystallize.md, "Module paths").
New code imports from ``crystallize_opt`` directly.
"""

from .._constants import BASELINE_CONDITION, CONDITION_KEY, METADATA_FILENAME, REPLICATE_KEY, SEED_USED_KEY
from ..hypothesis import hypothesis
from ..pipeline import data_source, inject_from_ctx, pipeline, pipeline_step, resource_factory
from ..treatment import treatment
from ..verifiers import VerifierCallable, verifier

__all__ = [
    "BASELINE_CONDITION",
    "CONDITION_KEY",
    "METADATA_FILENAME",
    "REPLICATE_KEY",
    "SEED_USED_KEY",
    "VerifierCallable",
    "data_source",
    "hypothesis",
    "inject_from_ctx",
    "pipeline",
    "pipeline_step",
    "resource_factory",
    "treatment",
    "verifier",
]
