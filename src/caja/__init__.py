"""caja: an open-source payments core."""

__version__ = "0.1.0"
