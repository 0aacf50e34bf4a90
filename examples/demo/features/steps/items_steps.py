"""Steps for items.feature: plain urllib calls to the running demo app."""

import json
import urllib.error
import urllib.request
import uuid

from behave import given, then, when

TIMEOUT = 5


def _request(context, method, path, payload=None):
    """Send a request and keep status and decoded JSON body on the context."""
    data = None if payload is None else json.dumps(payload).encode("utf-8")
    request = urllib.request.Request(  # noqa: S310 - the scheme is checked in environment.py
        context.base_url + path,
        data=data,
        method=method,
        headers={"Content-Type": "application/json", "Accept": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:  # noqa: S310 - as above
            status, body = response.status, response.read()
    except urllib.error.HTTPError as exc:
        status, body = exc.code, exc.read()
    except urllib.error.URLError as exc:
        msg = f"cannot reach the demo app at {context.base_url}: {exc.reason}"
        raise AssertionError(msg) from None
    context.status = status
    context.body = json.loads(body) if body else None


@given("the demo app is healthy")
def step_app_is_healthy(context):
    _request(context, "GET", "/health")
    assert context.status == 200, f"/health answered {context.status}"
    assert context.body == {"status": "ok"}, context.body


@when("I list the items")
def step_list_items(context):
    _request(context, "GET", "/api/items")


@when("I add an item with a unique name")
def step_add_unique_item(context):
    context.new_name = f"behave {uuid.uuid4().hex[:8]}"
    _request(context, "POST", "/api/items", {"name": context.new_name})
    context.new_item = context.body


@when('I add an item named "{name}"')
def step_add_named_item(context, name):
    _request(context, "POST", "/api/items", {"name": name})


@then("the response status is {status:d}")
def step_status_is(context, status):
    assert context.status == status, f"expected {status}, got {context.status}: {context.body}"


@then('the items include "{first}" and "{second}"')
def step_items_include(context, first, second):
    names = [item["name"] for item in context.body]
    assert first in names, names
    assert second in names, names


@then("the response is the new item")
def step_response_is_new_item(context):
    assert context.body["name"] == context.new_name, context.body
    assert isinstance(context.body["id"], int), context.body


@then("the items include the new item")
def step_items_include_new(context):
    assert context.new_item in context.body, f"{context.new_item} not in {context.body}"


@then('the error says "{text}"')
def step_error_says(context, text):
    assert text in context.body["error"], context.body
