"""Root conftest: loads the skybench pytest plugin when it is not installed as a package.

Installed (`pip install -e .`), the plugin comes in through the `pytest11` entry point; from a
bare checkout it comes in here. Loading it twice would be an error, so look first.
"""

from importlib.metadata import entry_points

_installed = any(ep.value == "fixtures.plugin" for ep in entry_points(group="pytest11"))
pytest_plugins = [] if _installed else ["fixtures.plugin"]
