"""qaagent.report package."""
