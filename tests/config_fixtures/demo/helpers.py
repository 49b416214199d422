"""A helper module, imported relatively by steps.py."""


def squared_error(mean: float, power: int, mode: str) -> float:
    error = abs(mean - 0.5) ** power
    return error * error if mode == "squared" else error
