"""Writers and loaders of the study's outputs (named in config.yaml's `outputs:`)."""

import json


def json_writer(value):
    return json.dumps(value).encode()


def json_loader(path):
    return json.loads(path.read_text())
