"""HTML for the demo app's home page: server-rendered items and an add form."""

from __future__ import annotations

from html import escape

from app.store import MAX_NAME_LENGTH, Item

_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>qaagent demo shop</title>
<style>
body {{ font-family: sans-serif; margin: 2rem; max-width: 40rem; }}
.error {{ color: #b00020; }}
</style>
</head>
<body>
<h1>Items</h1>
{error}
<ul id="items">
{items}
</ul>
<p id="api-status">Checking the API&hellip;</p>
<form method="post" action="/items">
<label for="name">New item</label>
<input id="name" name="name" type="text" maxlength="{max_length}" required>
<button type="submit">Add item</button>
</form>
<script>
fetch("/api/items")
  .then((response) => response.json())
  .then((items) => {{
    document.getElementById("api-status").textContent = "API reports " + items.length + " items";
  }})
  .catch(() => {{
    document.getElementById("api-status").textContent = "API unavailable";
  }});
</script>
</body>
</html>
"""


def render_index(items: list[Item], error: str | None = None) -> str:
    """The home page listing `items`, with an optional error message."""
    rows = "\n".join(f'<li data-testid="item">{escape(item.name)}</li>' for item in items)
    error_html = f'<p class="error" role="alert">{escape(error)}</p>' if error else ""
    return _PAGE.format(items=rows, error=error_html, max_length=MAX_NAME_LENGTH)
