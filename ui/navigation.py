"""The dashboard's pages, in the order and with the labels of the sidebar's navigation.

Streamlit's pages/ directory mode (no st.navigation): dashboard.py is Home, and each file of pages/
is a page whose URL is its file name (pages/live.py: /live). The default navigation would label
pages by file name ('dashboard', 'live'), so .streamlit/config.toml hides it
(client.showSidebarNavigation) and the sidebar draws this list with st.page_link.
"""
from __future__ import annotations

from dataclasses import dataclass

HOME = "dashboard.py"
SETUP = "pages/setup.py"
LIVE = "pages/live.py"
LABEL = "pages/label.py"
EMBEDDINGS = "pages/embeddings.py"
QUERIED = "pages/queried.py"
COMPARE = "pages/compare.py"
PREDICT = "pages/predict.py"


@dataclass(frozen=True)
class NavEntry:
    path: str  # relative to dashboard.py, as st.page_link and st.switch_page take it
    label: str
    icon: str


NAVIGATION = (
    NavEntry(HOME, "Home", ":material/home:"),
    NavEntry(SETUP, "Setup", ":material/tune:"),
    NavEntry(LIVE, "Live run", ":material/monitoring:"),
    NavEntry(LABEL, "Label", ":material/label:"),
    NavEntry(EMBEDDINGS, "Embeddings", ":material/scatter_plot:"),
    NavEntry(QUERIED, "Queried samples", ":material/grid_view:"),
    NavEntry(COMPARE, "Compare", ":material/stacked_line_chart:"),
    NavEntry(PREDICT, "Predict", ":material/online_prediction:"),
)
