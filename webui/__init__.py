"""Gradio tabs of the app: one module per tab, each with ``build()`` and optionally ``add_routes(app)``."""
