"""Every explainer's docstring ends with an example, and the examples run (doctest)."""

from __future__ import annotations

import doctest
import importlib

import pytest

from hepxai.explain import registry

MODULES = sorted({path.partition(":")[0] for path in registry.EXPLAINERS.values()}
                 | {"hepxai.explain.modality", "hepxai.explain.judging.categories",
                    "hepxai.core.ragged", "hepxai.report.sections", "hepxai.report.format",
                    "hepxai.explain.judging.sanity", "hepxai.report.sanity",
                    "hepxai.usecases.susy.study", "hepxai.explain.judging.study",
                    "hepxai.explain.judging.uncertainty", "hepxai.io.ntuple",
                    "hepxai.metrics.classification", "hepxai.usecases.muon.evaluation"})


@pytest.mark.parametrize("name", registry.names())
def test_every_explainer_docstring_ends_with_an_example(name):
    text = registry.get(name).__doc__ or ""
    assert ">>>" in text, name
    last = [line.strip() for line in text.strip().splitlines()][-1]
    assert last.startswith((">>>", "...")) or ">>>" in "\n".join(
        text.strip().splitlines()[-4:]), name  # the example is the docstring's end


@pytest.mark.parametrize("module", MODULES)
def test_the_examples_run(module):
    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0, module
