"""The parent package of every study folder's modules (see :mod:`crystallize_opt.config._modules`).

Importing it installs the finder that turns a study package name back into its folder. It is
imported only when a study's module is: by :func:`~crystallize_opt.config.load_study`, or by
name in a worker process that unpickles a study's steps. A process that loads no study never
has the finder on ``sys.meta_path``; one that did keeps it, so that a study module imported
later (a relative import inside a step, a worker unpickling) is still found.
"""

from .._modules import install_finder

install_finder()
