"""The version of skdnn (read by ``pyproject.toml`` and the save format)."""

__version__ = "0.2.0.dev0"
