"""A faster `__init__` for frozen slotted dataclasses built in bulk (`qaagent.results.TestCase`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import MISSING, fields
from typing import Any


def install_fast_init(cls: type) -> None:
    """Give a frozen slotted dataclass an `__init__` that sets its slots directly.

    The generated init of a frozen dataclass calls ``object.__setattr__`` once
    per field through a global lookup; a report of 100,000 cases builds each case
    twice (parse, then reload from the spill file), and that init was a fifth of
    the reporting path. This one has the same signature and defaults and stores
    through the slot descriptors (which, like ``object.__setattr__``, bypass the
    frozen ``__setattr__``): about twice as fast. Equality, hashing, repr and
    immutability are the dataclass's own.
    """
    names = [f.name for f in fields(cls)]
    namespace: dict[str, Any] = {"_new": object.__new__, "_cls": cls}
    params = []
    for f in fields(cls):
        if f.default_factory is not MISSING or f.kw_only:
            raise TypeError(f"{cls.__name__}.{f.name}: only plain defaults are supported")
        namespace[f"_set_{f.name}"] = cls.__dict__[f.name].__set__
        if f.default is MISSING:
            params.append(f.name)
        else:
            namespace[f"_default_{f.name}"] = f.default
            params.append(f"{f.name}=_default_{f.name}")
    body = "".join(f"    _set_{name}(self, {name})\n" for name in names)
    source = f"def __init__(self, {', '.join(params)}):\n{body}"
    exec(source, namespace)  # noqa: S102 - code built from the class's own field names, as dataclasses does
    init = namespace["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    generated = cls.__dict__["__init__"]
    init.__doc__ = generated.__doc__
    init.__annotations__ = generated.__annotations__
    cls.__init__ = init  # type: ignore[misc]


def builder(cls: type, order: Sequence[str]) -> Callable[..., Any]:
    """A function building a frozen slotted dataclass from all its fields' values, given in `order`.

    For values stored in another order than the class declares (`qaagent.results`'
    spilled chunks): ``builder(cls, order)(*values)`` equals ``cls(**dict(zip(order,
    values)))``, with no keyword dictionary and no reordering per value.
    """
    names = [f.name for f in fields(cls)]
    if sorted(order) != sorted(names):
        raise TypeError(f"{cls.__name__}: the order must name each field once")
    namespace: dict[str, Any] = {"_new": object.__new__, "_cls": cls}
    for name in names:
        namespace[f"_set_{name}"] = cls.__dict__[name].__set__
    body = "".join(f"    _set_{name}(self, {name})\n" for name in order)
    source = f"def build({', '.join(order)}):\n    self = _new(_cls)\n{body}    return self\n"
    exec(source, namespace)  # noqa: S102 - code built from the class's own field names, as dataclasses does
    build: Callable[..., Any] = namespace["build"]
    build.__qualname__ = f"{cls.__qualname__}.build"
    return build
