"""HTML reports: jinja2 templates rendered from the JSON and figures a run directory holds.

Every use case's page extends ``base.html.j2`` (head, shared style, left navigation, the run's
step times, footer) and is written by :func:`render_report`; the number filters, the
navigation entries and the helpers that read a run directory are shared here.
"""

from hepxai.report.format import FILTERS, duration, number, percent, plus_minus, significant
from hepxai.report.render import environment, page_context, render, render_block, render_report
from hepxai.report.sections import Section, Timings, data_uri, markdown_rows, present, read_timings

__all__ = ["FILTERS", "Section", "Timings", "data_uri", "duration", "environment",
           "markdown_rows", "number", "page_context", "percent", "plus_minus", "present",
           "read_timings", "render", "render_block", "render_report", "significant"]
