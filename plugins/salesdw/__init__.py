"""salesdw: the sales data warehouse's Python package (extract, load, quality, publish, CLI)."""

__version__ = "0.1.0"
