"""bench_noise.py with Optuna's GPSampler registered for ours (research only; needs torch):

    PYTHONPATH=. python research/noise_suite_2026-12-07c/run_bench_gp.py --set tuning \
        --cells "catmix_a/sd=1/rho=0.5,catmix_a/sd=1/t3/rho=0" --methods "ours:sampler=gp" \
        --seeds 30 --budget 200 --processes 2 --dump gp.jsonl
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import bench_noise as bn
import optuna

bn.SAMPLERS["gp"] = lambda seed: optuna.samplers.GPSampler(seed=seed)
sys.exit(bn.main(sys.argv[1:]))
