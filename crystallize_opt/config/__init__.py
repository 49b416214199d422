"""Studies as folders: an experiment (and its optimization) described by ``config.yaml``.

A study is a folder::

    studies/demo/
        config.yaml       # this schema
        datasources.py    # @data_source factories (or DataSource subclasses)
        steps.py          # @pipeline_step() factories (or PipelineStep subclasses)
        verifiers.py      # optional: verifier factories
        outputs.py        # optional: artifact loader and writer functions

``Experiment.from_yaml("studies/demo")`` returns the experiment;
``load_study("studies/demo")`` returns a :class:`StudyConfig` with the experiment and the parsed
``optimize:`` and ``report:`` sections::

    study = load_study("studies/demo")
    result = study.experiment.run()
    optimizer = study.optimize.make_optimizer()             # storage/study_name/seed overridable
    best = study.experiment.optimize(optimizer, study.optimize.trials, study.optimize.replicates_per_trial)

Example ``config.yaml``::

    name: demo
    replicates: 5
    seed: 7
    datasource: {points: {size: 50}}
    steps: [shift, {score: {power: 2}}]
    treatments:
      plus_one: {delta: 1.0}
    hypotheses:
      - {name: shift_helps, verifier: welch_t_test, metrics: mean, params: {alpha: 0.01, alternative: greater}}
    execution: {type: process, workers: 2}
    optimize:
      objective: {metric: val_loss, direction: minimize}
      trials: 100
      replicates_per_trial: 3
      sampler: {name: tpe, seed: 0, n_startup_trials: 5}
      pruner: {name: median, n_startup_trials: 5}
      search_space:
        lr: {type: float, low: 1.0e-4, high: 1.0e-1, log: true}
        layers: {type: int, low: 1, high: 4}
        activation: {type: categorical, choices: [relu, tanh]}
        dropout: {type: float, low: 0.0, high: 0.5, step: 0.1}
        fixed_value: {type: constant, value: 3}
    report: {plotlyjs: shared}

Top-level keys (a key set to ``null`` counts as absent)
---------------------------------------------------------
``name`` (string, default: the folder name)
    The experiment's name (artifact folder, default study name). Like treatment names and
    ``outputs`` file names it becomes a folder or file name, so it must be a plain file name:
    1 to 255 bytes, not starting with ``.``, without ``/``, ``\\`` or control characters
    (``../x`` is refused, never written outside the artifact folder).
``description`` (string, optional)
``replicates`` (integer from 1 to 10,000, default 1)
    A larger count is refused as a typo (see ``crystallize_opt._checks.MAX_REPLICATES``).
``seed`` (integer from 0 to 2**32 - 1, default: the package's fixed master seed)
    ``SeedPlugin(seed=...)``; also the sampler's default seed (Optuna's samplers and NumPy take
    32-bit seeds).
``deterministic`` (true or false, default false)
    ``SeedPlugin(deterministic=...)``: PyTorch (and TensorFlow) use deterministic algorithms, so
    the same seed gives the same metrics on a GPU too, at some cost in speed (not in
    crystallize-ml).
``datasource`` (required)
    ``name`` or ``{name: {argument: value, ...}}``: a ``@data_source`` factory (or a
    ``DataSource`` subclass, or any function returning a ``DataSource``) defined in
    ``datasources.py``, called with the arguments. Or crystallize-ml's alias mapping
    ``{alias: name, other: "experiment#artifact", ...}`` (also written as a list of one-key
    mappings, merged; an alias may appear once): each ``name`` is such a factory called without
    arguments, each ``"experiment#artifact"`` the output ``artifact`` (alias or file name) of the
    experiment in folder ``experiment`` beside this one, which
    :meth:`ExperimentGraph.from_yaml <crystallize_opt.ExperimentGraph.from_yaml>` loads and runs
    first. One alias naming a factory gives that datasource; several aliases, or any reference,
    give an :class:`~crystallize_opt.ExperimentInput` whose data is ``{alias: value}``. A
    one-key mapping whose value is a mapping (or null) is the ``{name: {arguments}}`` form.
``steps`` (required, non-empty list)
    Each item is ``name`` or ``{name: {argument: value, ...}}``: a ``@pipeline_step()`` factory
    (or a ``PipelineStep`` subclass, or any function returning one) defined in ``steps.py``.
    Arguments are checked against the function's parameters (after ``data, ctx``). An argument
    of a parameter annotated ``Artifact`` whose value names an output (its alias or file name)
    receives that output artifact.
``treatments`` (mapping, optional)
    ``treatment name: {context key: value, ...}``. A name may appear once and must be a plain
    file name (see ``name``); ``baseline`` and the reserved context keys ``replicate``,
    ``condition``, ``seed_used`` are refused.
``hypotheses`` (list, optional)
    Each item: ``verifier`` (required), ``metrics`` (required: a name or a list of names),
    ``params`` (mapping, optional), ``name`` (default ``<verifier>:<metric>+...``; names must
    differ). The verifier name is looked up first in the study's ``verifiers.py``, then among
    the built-ins ``welch_t_test``, ``mann_whitney_u``, ``wilcoxon_signed_rank``. Either way it
    names a *factory*: ``factory(**params)`` returns the verifier
    ``verifier(baseline_metrics, treatment_metrics) -> dict``. With process execution the
    verifier travels to worker processes, so build it from module-level functions or classes
    (e.g. ``functools.partial``), not closures.
``outputs`` (list or mapping, optional)
    A list: each item is an artifact file name (``summary.txt``) or ``{file name: loader}``,
    where ``loader`` is a function ``loader(path)`` defined in ``outputs.py``. A mapping
    (crystallize-ml's form): ``alias: {file_name: ..., loader: ..., writer: ...}``, each key
    optional (``file_name`` defaults to the alias; ``loader(path)`` and ``writer(value) ->
    bytes`` are functions in ``outputs.py``); steps receive the artifact as a parameter named
    like the alias, the file name or its stem. Every output must be taken by a step (as in
    crystallize-ml): passed to a step argument annotated ``Artifact`` (``{step: {argument:
    alias}}``), or named by a parameter of a ``@pipeline_step`` function that its entry does not
    set; otherwise loading refuses it, naming the key (``outputs.<alias>``).
``initial_ctx`` (mapping, optional)
    Context values every run starts with (reserved context keys refused).
``execution`` (optional; default serial)
    ``serial``, ``thread``, ``process`` or ``dask``, or ``{type: ..., workers: N, start_method:
    ..., address: ...}``: ``ParallelExecution(executor_type=type, max_workers=workers,
    start_method=..., client=address)``. ``workers`` (positive integer) only with
    thread/process, ``start_method`` only with process, ``address`` (a Dask scheduler's,
    optional) only with dask, which needs ``pip install crystallize-opt[dask]``.
``optimize`` (mapping, optional): see below.
``report`` (mapping, optional): see below.

The ``optimize:`` section
-------------------------
``objective`` (required)
    A metric name (minimised), or a mapping: ``metric`` or ``metrics`` (exactly one of them; a
    name or a list of names), ``direction`` (``minimize`` (default) or ``maximize``, or one per
    metric), ``aggregate`` (``mean`` (default) or ``median``), ``constraints`` (metric names
    whose value must be ``<= 0``).
``search_space`` (required, non-empty; at least one non-constant parameter)
    ``parameter name: entry``, where the entry is one of

    * ``{type: float, low: L, high: H, log: false, step: S}``: ``FloatDistribution``;
    * ``{type: int, low: L, high: H, log: false, step: S}``: ``IntDistribution`` (integers);
    * ``{type: categorical, choices: [...]}``: ``CategoricalDistribution`` (non-empty, distinct
      strings, numbers, booleans or nulls);
    * ``{type: constant, value: V}``: ``V`` in every trial.

    ``low <= high``; ``log`` and ``step`` exclude each other; with ``log: true`` a float's ``low``
    must be ``> 0`` and an int's ``>= 1``; ``step > 0`` and ``high - low`` a whole number of steps.
    :func:`compile_search_space` compiles such a mapping on its own.
``trials`` (required, positive integer)
    The study's target of finished trials (with ``noise``: times ``replicates_per_trial``, the
    budget of pipeline executions).
``replicates_per_trial`` (integer from 1 to 10,000, default 1)
``sampler`` (default ``tpe``)
    A name, or ``{name: ..., seed: N, <setting>: value, ...}``. Names: ``tpe``, ``random``,
    ``gp``, ``cmaes``, ``nsga2``, ``nsga3``, ``qmc``, ``grid``, ``bruteforce`` (Optuna's
    ``TPESampler``, ``RandomSampler``, ``GPSampler``, ``CmaEsSampler``, ``NSGAIISampler``,
    ``NSGAIIISampler``, ``QMCSampler``, ``GridSampler``, ``BruteForceSampler``). Settings are the
    class's keyword arguments, checked against its signature (those taking Python objects,
    such as callables or other samplers, cannot be set from YAML). ``seed`` defaults to the
    experiment's ``seed``. ``grid`` gets its grid from the search space, and both ``grid`` and
    ``bruteforce`` need a finite space (floats with a ``step``). ``cmaes`` handles a single
    objective only; it builds :class:`~crystallize_opt.ResumableCmaEsSampler`, Optuna's
    ``CmaEsSampler`` whose proposals do not depend on trial numbers (a resumed study proposes
    what an uninterrupted one did).
``pruner`` (optional; none by default)
    A name, or ``{name: ..., <setting>: value, ...}``. Names: ``median``, ``percentile``,
    ``successive_halving``, ``hyperband``, ``threshold``, ``wilcoxon``, ``patient``, ``nop``
    (Optuna's ``MedianPruner``, ... , ``NopPruner``). ``patient`` takes ``wrapped_pruner`` (a
    nested pruner name or mapping) and ``patience``. Pruning needs a single objective. The
    pruner sees the learning curves the steps report (``ctx.report(value, step)``: replicate
    ``r``'s step ``e`` is Optuna step ``r * E + e``, ``E`` the steps of one replicate), so a
    trial can stop inside a replicate's training; for steps that report none, each replicate
    is one pruning step.
``curve_pruning`` (``pooled`` (default with a pruner), ``paired`` or ``off``)
    How replicates and learning-curve steps combine for the pruner (see
    :class:`~crystallize_opt.OptunaOptimizer`): ``pooled`` reports the trial's mean at each step
    over its replicates so far, ``paired`` the replicate's own value, ``off`` one value per
    replicate. Needs a ``pruner``. Not in crystallize-ml.
``storage`` (string, default ``sqlite:///<study folder>/study.db``, an absolute path)
    ``:memory:`` or an Optuna storage URL; a relative ``sqlite:///`` or ``journal:///`` path is
    relative to the study folder. Without this key, a new study run with several workers
    (``--workers N``) goes to the journal file ``<study folder>/study.log`` instead, and an
    existing study is used from whichever of the two files holds it
    (:meth:`OptimizeConfig.storage_for`).
``study_name`` (string, default: the folder name)
``heartbeat_interval`` (seconds, default 10), ``grace_period`` (seconds a RUNNING trial may stay
silent before it is failed as stale and its parameters retried; default 60, or two heartbeat
intervals when that is longer; it must be longer than the heartbeat interval), ``max_retries`` (integer >= 0, default 1), ``outage_timeout`` (seconds to
wait for a database that stops answering or stays locked before the run fails, and at most how
long a server that is down when the run starts is waited for; default 600),
``run_baseline`` (boolean, default false), ``common_random_numbers`` (boolean, default true)
    As in :class:`~crystallize_opt.OptunaOptimizer`, whose own check refuses a bad value (the
    message then names this file and key): an absent key gets the constructor's default.
``warm_start`` (treatment name or list of names, optional)
    Treatments of the config evaluated first; their context keys must be search-space
    parameters.
``gpus`` (list of distinct GPU indices, optional)
    The GPUs that the worker processes of ``--workers N`` share, each seeing its own through
    ``CUDA_VISIBLE_DEVICES`` (round robin when there are more workers than GPUs); with one
    process, the GPUs it uses. ``--gpus`` overrides it. Not in crystallize-ml.
``noise`` (``true``, ``false`` or a mapping; default ``false``)
    Noise-aware optimization (:class:`~crystallize_opt.NoiseHandling`), for pipelines whose
    score changes from seed to seed. ``true`` uses the defaults, which suit most studies: no
    statistics needed. Then ``trials * replicates_per_trial`` is a *budget of pipeline
    executions* (every replicate counts), not a number of trials: each search trial runs one
    replicate on seeds shared by all trials (racing and intensification are opt-in settings),
    the winner is chosen by a model of the response and confirmed on fresh seeds, and finally
    the winner and
    the baseline run on held-out seeds: the study stores (and ``optimize``, ``best`` and the
    report show) an unbiased estimate of the winner and a paired t-test against the baseline
    (effect, confidence interval, p-value). A mapping turns it on with these settings (absent
    ones, or ones set to ``null``, keep the default, except ``racing_z``):

    * ``max_replicates`` (positive integer, default 1: one replicate per search trial; racing
      needs more, e.g. 3): most search replicates one parameter set can earn;
    * ``racing_z`` (positive number, default ``null``: no racing): stop a trial once it is this
      many standard errors worse than the best parameters on the same seeds;
    * ``intensify`` (boolean, default false): the best parameters earn more replicates;
    * ``stopped_trials`` (``partial`` (default) or ``pruned``): what a trial stopped by racing
      tells Optuna (its partial mean, or pruned);
    * ``select`` (``model`` (default) or ``mean``): rank candidates by a Gaussian-process
      model of the response or by pooled means;
    * ``model_candidates`` (boolean, default true) and ``radius`` (number in (0, 1], default
      0.05): also consider minima of the model within ``radius`` (share of each parameter's
      range) of the best evaluated parameters;
    * ``minima_z`` (number >= 0, default 0.5): a minimum of the model is a candidate only when
      the model expects it to beat the evaluated parameters it was found from by this many
      standard deviations (0: always);
    * ``confirm_candidates`` (integer >= 0, default 5; 0: no confirmation round): top
      candidates re-evaluated on fresh seeds;
    * ``confirm_seeds``, ``holdout_seeds`` (integers >= 2; default ``null``: 8 per 300
      executions of budget, at least 3): fresh seeds per confirmed candidate, and held-out seeds
      for the winner and the baseline;
    * ``confidence`` (number in (0, 1), default 0.95): level of the confidence interval.

    Needs a single objective without constraints, the ``mean`` aggregate and
    ``common_random_numbers: true``. With a ``pruner``, the pruner stops search trials instead
    of the racing rule, inside a replicate's training when the steps report learning curves
    (the stopped execution counts against the budget; confirmation and held-out runs always
    train to the end).

The ``report:`` section
-----------------------
How the command line writes the study's HTML report (:class:`ReportConfig`). Not in
crystallize-ml: beyond the reference API.

``plotlyjs`` (``inline`` or ``shared``, default ``inline``)
    How ``crystallize-opt optimize`` and ``crystallize-opt report`` give the report plotly.js
    when ``--plotlyjs`` is not given (an explicit ``--plotlyjs`` wins): ``inline`` puts it inside
    the HTML file (about 4.8 MB), which opens offline on its own; ``shared`` writes one
    ``plotly.min.js`` beside the report, which the reports of a folder share (see
    :func:`crystallize_opt.report.write_report`). ``report --storage URL --study NAME`` without a
    config uses ``inline``.

Errors
------
Every problem raises one :class:`~crystallize_opt.ConfigurationError` whose message names the
file, the key path, what was found and what is allowed, e.g.
``studies/demo/config.yaml: optimize.search_space.lr.low: expected a number, got 'abc'``.
Every message is one line (a newline or other control character in a key, a value or a file
name is shown escaped, as ``\\n``) and describes a value in at most about 80 characters.
Unknown keys are errors (the message lists the allowed ones); YAML syntax errors give the line
and column; repeated keys in one mapping are errors (never silently overwritten); YAML aliases
that expand the config beyond a million values (an "alias bomb") are refused before any value
is built. A missing
study file or name is reported with what the file does define. An exception raised while a
study file is imported, or by a factory called with the config's arguments, is wrapped (and
chained as the cause).

Study files are imported as modules of a package named after the folder (under
``crystallize_opt.config._studies``), from source, without ``__pycache__``; they may import
each other relatively (``from .helpers import f``). Worker processes import them again by that
name, so steps and datasources pickle. A ``datasources.py``, ``steps.py``, ``verifiers.py`` or
``outputs.py`` that changed on disk is imported again by the next :func:`load_study` (the
modules it imports are not).
"""

from ._graph import load_experiment_graph
from ._loader import StudyConfig, load_study
from ._optimize_section import OptimizeConfig
from ._report_section import ReportConfig
from ._space import compile_search_space

__all__ = [
    "OptimizeConfig",
    "ReportConfig",
    "StudyConfig",
    "compile_search_space",
    "load_experiment_graph",
    "load_study",
]
