"""Reaching a person when nobody watches the screen: notification rules per region subtree,
messages, a durable delivery outbox with retries, and the senders (apprise, the server's modem).
"""
