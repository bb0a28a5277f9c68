"""End-to-end studies (``hepxai demo USE_CASE``): resumable steps over the use case's commands."""
