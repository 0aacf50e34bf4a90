"""qaagent.runners package."""
