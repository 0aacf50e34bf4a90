"""qaagent.junit package."""
