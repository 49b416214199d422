"""The data: scikit-learn's digits (8x8 images, 10 classes) when scikit-learn is installed, else a
synthetic set of the same shape drawn from a fixed generator. Fixed across replicates."""

import torch

from crystallize_opt import data_source

DATASET_SEED = 7


@data_source
def digits(ctx):
    """Return ``(X, y)``: float32 features scaled to [0, 1] and int64 labels, on the CPU."""
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        generator = torch.Generator().manual_seed(DATASET_SEED)
        centres = torch.rand(10, 64, generator=generator)
        y = torch.randint(0, 10, (1500,), generator=generator)
        X = (centres[y] + 0.35 * torch.randn(1500, 64, generator=generator)).clamp(0, 1)
        return X, y
    X, y = load_digits(return_X_y=True)
    return torch.tensor(X / 16.0, dtype=torch.float32), torch.tensor(y, dtype=torch.int64)
