"""Query strategies, one module per family; importing this package registers every one by name."""
# isort: off  (import order = registry order = the order menus list the strategies)
from alcore.strategies import baseline, uncertainty, diversity, hybrid  # noqa: F401
# isort: on
from alcore.strategies import registry
from alcore.strategies.base import Pool, Selection

__all__ = ["Pool", "Selection", "registry"]
