"""Matplotlib figures; one function per figure kind, all saved atomically."""
