"""qaagent.evidence package."""
