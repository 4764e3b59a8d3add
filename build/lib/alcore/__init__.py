"""alcore: the headless active-learning engine behind the dashboard (never imports streamlit)."""
__version__ = "0.1.0"
CLASS_NAMES = ("NORMAL", "PNEUMONIA")  # label 0, label 1 (the positive class)
