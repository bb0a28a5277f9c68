"""The interactive 3D jet view runs in a real browser without a script error, its colour scale
maps the lowest and the highest value to the ends of the viridis stops and clamps values
outside (the legend's gradient asks for both ends, where rounding once left the table), and it
carries every node and edge of the jet."""

from __future__ import annotations

import numpy as np
import pytest
from report_checks import CHROMIUM

from hepxai.usecases.darkjet.figures import graph_html
from hepxai.usecases.darkjet.graphs import GraphSettings, build_graphs
from hepxai.usecases.darkjet.simulator import DarkJetSimConfig, Jets, simulate_jets


@pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium")
def test_the_3d_view_draws_in_a_browser(tmp_path):
    from playwright.sync_api import sync_playwright

    config = DarkJetSimConfig()
    graphs = build_graphs(Jets.concatenate([simulate_jets(config, 3, 1, 0, 16)]),
                          GraphSettings())
    values = np.random.default_rng(0).normal(size=int(graphs.n_nodes[0]))
    path = graph_html(graphs, 0, tmp_path / "jet.html", values=values,
                      value_label="relevance </script>")  # escaped, not ending the script
    errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = browser.new_page()
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.goto(path.as_uri())
            page.wait_for_load_state("load")
            found = page.evaluate("""() => ({nodes: G.value.length, edges: G.edges.length,
                low: colour(vmin), high: colour(vmax), below: colour(vmin - 1),
                above: colour(vmax + 1), label: LABEL})""")
        finally:
            browser.close()
    assert not errors, errors
    assert found["nodes"] == len(values)
    # each undirected edge once: the graph stores both directions of every edge
    assert 2 * found["edges"] == graphs.edge_offsets[1] - graphs.edge_offsets[0]
    assert found["low"] == found["below"] == "rgb(68,1,84)"
    assert found["high"] == found["above"] == "rgb(253,231,37)"
    assert found["label"] == "relevance </script>"
