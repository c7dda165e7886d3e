"""Registries: decorators, entry points from outside mobench, clear errors on unknown names."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import PLUGIN_DIR

from mobench.core.errors import MobenchError, UnknownNameError
from mobench.core.registry import Registry


def test_decorator_registers_and_lists_with_description():
    reg: Registry[type] = Registry("widget", "mobench.tests.no-such-group")

    @reg.register("alpha")
    class Alpha:
        """First line is the description.

        More text."""

    @reg.register("beta", description="explicit words")
    class Beta:
        description = "ignored, explicit wins"

    assert reg.get("alpha") is Alpha
    assert [(e.name, e.description) for e in reg.entries()] == [
        ("alpha", "First line is the description."), ("beta", "explicit words")]
    assert "alpha" in reg and "gamma" not in reg


def test_unknown_name_suggests_and_lists():
    reg: Registry[type] = Registry("widget", "mobench.tests.no-such-group")
    reg.register("panacea")(type("P", (), {}))
    reg.register("rewarded-soups")(type("R", (), {}))
    with pytest.raises(UnknownNameError) as error:
        reg.get("panace")
    assert str(error.value) == ("unknown widget 'panace'. Did you mean 'panacea'? "
                                "Known widgets: panacea, rewarded-soups.")
    with pytest.raises(UnknownNameError, match=r"'zzz'\. Known widgets"):
        reg.get("zzz")


def test_registering_two_classes_under_one_name_fails():
    reg: Registry[type] = Registry("widget", "mobench.tests.no-such-group")
    reg.register("x")(type("A", (), {}))
    with pytest.raises(MobenchError, match="registered twice"):
        reg.register("x")(type("B", (), {}))


def test_plugin_entry_points_in_process():
    from mobench.core import registry

    assert registry.tasks.get("toy").__module__ == "mobench_testplugin"
    assert registry.methods.get("toy-steer").__module__ == "mobench_testplugin"
    assert registry.methods.get("base").__module__ == "mobench.methods.base"


def _console_script() -> str:
    beside_python = str(Path(sys.executable).parent)
    found = shutil.which("mobench", path=beside_python) or shutil.which("mobench")
    assert found, "the mobench console script is not installed"
    return found


def test_console_script_lists_builtins_and_plugins_found_by_entry_points(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(PLUGIN_DIR), CI="true")
    methods = subprocess.run([_console_script(), "list", "methods"], env=env, cwd=tmp_path,
                             capture_output=True, text=True, timeout=120)
    assert methods.returncode == 0, methods.stderr
    lines = methods.stdout.splitlines()
    assert lines[0].split()[0] == "base" and "reference policy" in lines[0]
    assert any(line.startswith("toy-steer ") and "logit bonuses" in line for line in lines)
    tasks = subprocess.run([_console_script(), "list", "tasks"], env=env, cwd=tmp_path,
                           capture_output=True, text=True, timeout=120)
    assert tasks.returncode == 0, tasks.stderr
    assert any(line.startswith("toy ") and line.endswith("[tiny]")
               for line in tasks.stdout.splitlines())
    # without the plugin on the path, its names are gone
    plain = subprocess.run([_console_script(), "list", "methods"],
                           env={k: v for k, v in env.items() if k != "PYTHONPATH"}, cwd=tmp_path,
                           capture_output=True, text=True, timeout=120)
    assert "toy-steer" not in plain.stdout
