"""The dashboard's view models: what the pages show, as plain data and plotly figures.

This side may import the engine (`alcore.*`); the engine never imports this package, and nothing
under `alcore/` imports Streamlit (tests/test_layout.py checks both).
"""
