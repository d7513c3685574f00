"""A bounded least-recently-used memo for objects that are expensive to build and safe to share
(compiled generation functions, evaluators, fitted cluster centres): at most ``maxsize`` entries, the
least recently used dropped first, so a long notebook session does not grow without bound."""
from __future__ import annotations

from collections import OrderedDict
from typing import Any, Callable, Hashable


class Memo:
    """``memo.get(key, build)``: the object stored under ``key``, built by ``build()`` on a miss."""

    def __init__(self, maxsize: int):
        if maxsize < 1:
            raise ValueError(f"maxsize must be >= 1 (got {maxsize})")
        self.maxsize = maxsize
        self._items: OrderedDict = OrderedDict()

    def get(self, key: Hashable, build: Callable[[], Any]) -> Any:
        if key in self._items:
            self._items.move_to_end(key)
            return self._items[key]
        value = build()
        self._items[key] = value
        while len(self._items) > self.maxsize:
            self._items.popitem(last=False)
        return value

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._items
