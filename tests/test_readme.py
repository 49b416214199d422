"""The README's Python examples run as written."""

from __future__ import annotations

import re
import runpy
from pathlib import Path

import pytest
import yaml

README = Path(__file__).resolve().parent.parent / "README.md"
# A block after an HTML comment naming the test that runs it (it continues an earlier example,
# so that test gives it the earlier example's objects) is not run alone here.
BLOCKS = [
    block
    for marker, block in re.findall(
        r"(<!-- [^\n]*runs this block[^\n]*-->\n)?```python\n(.*?)```",
        README.read_text(encoding="utf-8"),
        flags=re.DOTALL,
    )
    if not marker
]


def test_the_readme_has_examples() -> None:
    assert len(BLOCKS) >= 2


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_example_runs_as_written(index: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    script = tmp_path / f"readme_example_{index}.py"
    script.write_text(BLOCKS[index], encoding="utf-8")
    runpy.run_path(str(script), run_name="__main__")


def test_the_optimizing_example_prints_what_the_readme_shows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The "Optimizing" example's ``print(...)  # output`` comments are its real output (the
    search is seeded, so it prints the same on every run)."""
    block = next(b for b in BLOCKS if 'study_name="quadratic"' in b)
    shown = [
        comment.split(" (")[0] if comment[0].isdigit() else comment
        for comment in re.findall(r"^print\(.*\)  # (.*)$", block, flags=re.MULTILINE)
    ]
    assert len(shown) == 2
    monkeypatch.chdir(tmp_path)
    script = tmp_path / "optimizing.py"
    script.write_text(block, encoding="utf-8")
    runpy.run_path(str(script), run_name="__main__")
    assert capsys.readouterr().out.splitlines() == shown


def test_the_study_folder_excerpt_is_the_quickstart_config_and_its_hypotheses_can_succeed() -> None:
    from crystallize_opt.config import load_study

    excerpt = re.search(
        r"## Study folders.*?```yaml\n(.*?)```", README.read_text(encoding="utf-8"), re.DOTALL
    )
    assert excerpt is not None
    folder = README.parent / "studies" / "quickstart"
    config = yaml.safe_load((folder / "config.yaml").read_text(encoding="utf-8"))
    shown = yaml.safe_load(excerpt.group(1))
    assert shown == {k: v for k, v in config.items() if k != "description"}
    experiment = load_study(folder).experiment
    n = experiment.replicates
    for hypothesis in experiment.hypotheses:  # distinct values: the test's bound for n replicates
        reachable = hypothesis.verifier.min_p_value([0.0] * n, [float(i + 1) for i in range(n)])
        assert reachable < hypothesis.verifier.alpha, hypothesis.name
