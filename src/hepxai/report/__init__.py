"""HTML reports: jinja2 templates rendered from the JSON and figures a run directory holds."""
