# Bounded history lists: a node runs for months, and a list that grows with every heartbeat
# would run a 400 KB heap out of memory within weeks. The virtual board raises the limit to
# keep whole histories for tests.
from micropython import const

LIMIT = const(16)


def remember(items, item, limit=LIMIT):
    items.append(item)
    if len(items) > limit:
        items.pop(0)
