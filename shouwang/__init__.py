"""The composition root: the `shouwang` command, the demo and the local process stack.

It may import every part of the system (protocol, hardware, gateway, server); no part imports it.
"""
