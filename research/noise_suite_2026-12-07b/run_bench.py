"""bench_noise.py with the prototype samplers of this folder registered (research only):

    PYTHONPATH=. python research/noise_suite_2026-12-07b/run_bench.py --set tuning --cells ... \
        --methods "ours,ours:sampler=smooth_gp,ours:sampler=smooth_knn" ...
"""

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parents[1] / "benchmarks"), str(HERE)]

import bench_noise as bn  # noqa: E402
from smooth_sampler import SmoothedSampler  # noqa: E402

bn.SAMPLERS["smooth_gp"] = lambda s: SmoothedSampler(s, "gp")
bn.SAMPLERS["smooth_knn"] = lambda s: SmoothedSampler(s, "knn")
sys.exit(bn.main(sys.argv[1:]))
