"""The influence core's docstring examples run (doctest)."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = ["hepxai.explain.influence.constants", "hepxai.explain.influence.checkpoints",
           "hepxai.explain.influence.source", "hepxai.explain.influence.validation"]


@pytest.mark.parametrize("module", MODULES)
def test_the_examples_run(module):
    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0, module


def test_the_package_imports_no_torch():
    import subprocess
    import sys

    code = ("import sys, hepxai.explain.influence as m; m.VARIANTS; m.DEFAULT_PROJECTION_DIM; "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "False"
