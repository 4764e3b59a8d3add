"""What the dashboard's pages share: the page frame and sidebar, the current run, widgets and page
sections used by several pages. Not pages: Streamlit runs every file of pages/ as a page."""
