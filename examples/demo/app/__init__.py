"""The qaagent demo web app (standard library only)."""
