"""Suite runners, one module per kind, chosen by the profile's `runner:`.

`names.py` lists the runners, `registry.py` maps each to its class (`make_runner`), `base.py`
holds the hooks a runner answers, and each runner's module all of its tool's knowledge.
"""
