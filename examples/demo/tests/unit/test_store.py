"""Unit tests of the item store and name validation."""

import threading

import pytest
from app.store import MAX_NAME_LENGTH, SEED_NAMES, InvalidItemError, ItemStore, clean_name


def test_a_new_store_holds_the_seed_items():
    assert [item.name for item in ItemStore().list()] == list(SEED_NAMES)


def test_add_returns_the_item_with_the_next_id():
    store = ItemStore(("apple",))
    item = store.add("pear")
    assert item.to_dict() == {"id": 2, "name": "pear"}
    assert store.list()[-1] == item


def test_names_are_trimmed_and_inner_spaces_collapsed():
    assert clean_name("  kiwi \t fruit ") == "kiwi fruit"


@pytest.mark.parametrize("bad", ["", "   ", None, 42, ["pear"], "x" * (MAX_NAME_LENGTH + 1)])
def test_invalid_names_are_refused(bad):
    store = ItemStore(())
    with pytest.raises(InvalidItemError):
        store.add(bad)
    assert store.list() == []


def test_concurrent_adds_get_unique_ids():
    store = ItemStore(())
    threads = [threading.Thread(target=store.add, args=(f"item {n}",)) for n in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    ids = [item.id for item in store.list()]
    assert sorted(ids) == list(range(1, 21))
