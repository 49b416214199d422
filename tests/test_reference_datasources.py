"""crystallize-ml's datasource registry and ``@data_source`` forms, written from its
specification: ``register_datasource``, ``get_datasource``, ``unregister_datasource``,
``list_datasources``, ``clear_registry``; ``@data_source``, ``@data_source("name",
register=True)``, ``@data_source(register=True)``; a required parameter raises at once."""

from __future__ import annotations

import importlib
import sys

import pytest

from crystallize_opt import (
    DataSource,
    clear_registry,
    data_source,
    get_datasource,
    list_datasources,
    register_datasource,
    standalone_context,
    unregister_datasource,
)


@pytest.fixture(autouse=True)
def empty_registry():
    clear_registry()
    yield
    clear_registry()


class Constant(DataSource):
    def fetch(self, ctx):
        return 42


def test_register_get_list_unregister():
    source = Constant()
    register_datasource("answer", source)
    assert get_datasource("answer") is source
    assert list_datasources() == ["answer"]
    unregister_datasource("answer")
    assert list_datasources() == []
    with pytest.raises(KeyError):
        unregister_datasource("answer")


def test_get_unknown_name_lists_the_registered_ones():
    register_datasource("alpha", Constant())
    register_datasource("beta", Constant())
    with pytest.raises(KeyError, match=r"No datasource registered as 'gamma'.*\['alpha', 'beta'\]"):
        get_datasource("gamma")


def test_clear_registry_empties_it():
    register_datasource("a", Constant())
    clear_registry()
    assert list_datasources() == []


def test_a_name_taken_by_another_datasource_is_refused_unless_replaced():
    @data_source
    def other(ctx):
        return 0

    register_datasource("x", Constant())
    register_datasource("x", Constant())  # made by the same class: replaces (a module reload)
    with pytest.raises(ValueError, match="'x' is already registered"):
        register_datasource("x", other())
    register_datasource("x", other(), replace=True)
    assert get_datasource("x").fetch(standalone_context()) == 0


def test_register_checks_its_arguments():
    with pytest.raises(TypeError):
        register_datasource("", Constant())
    with pytest.raises(TypeError):
        register_datasource("x", object())  # type: ignore[arg-type]


def test_data_source_forms():
    @data_source
    def plain(ctx, size: int = 2):
        return [0] * size

    @data_source()
    def called(ctx):
        return "called"

    @data_source("named", register=True)
    def by_name(ctx, size: int = 3):
        return [1] * size

    @data_source(register=True)
    def auto(ctx):
        return "auto"

    ctx = standalone_context()
    assert plain().fetch(ctx) == [0, 0] and plain(size=1).fetch(ctx) == [0]
    assert called().fetch(ctx) == "called"
    assert list_datasources() == ["auto", "named"]
    assert get_datasource("named").fetch(ctx) == [1, 1, 1]
    assert get_datasource("auto").fetch(ctx) == "auto"
    assert by_name(size=1).fetch(ctx) == [1]


def test_a_required_parameter_must_be_given_to_the_factory():
    @data_source
    def sized(ctx, size):
        return [0] * size

    with pytest.raises(TypeError, match=r"'sized'.*\['size'\]"):
        sized()
    assert sized(size=2).fetch(standalone_context()) == [0, 0]


def test_register_true_skips_a_factory_that_needs_arguments(caplog):
    @data_source(register=True)
    def needs(ctx, size):
        return size

    assert list_datasources() == []
    assert "not registered" in caplog.text


def test_reloading_a_module_that_registers_does_not_raise(tmp_path, monkeypatch):
    (tmp_path / "reg_sources.py").write_text(
        "from crystallize_opt import data_source\n\n\n"
        "@data_source('reloaded', register=True)\n"
        "def reloaded(ctx):\n"
        "    return 'v1'\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    module = importlib.import_module("reg_sources")
    try:
        importlib.reload(module)
        assert list_datasources() == ["reloaded"]
        assert get_datasource("reloaded").fetch(standalone_context()) == "v1"
    finally:
        sys.modules.pop("reg_sources", None)
