"""qaagent: run every test suite of a project, retry what failed, report one truth."""

__version__ = "0.1.0"

__all__ = ["__version__"]
