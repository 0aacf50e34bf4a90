"""qaagent.github package."""
