"""Loaders of the demo study's output artifacts."""

import json


def load_json(path):
    return json.loads(path.read_text())
