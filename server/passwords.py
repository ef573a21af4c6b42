"""Password strength: long enough, and hard to guess by zxcvbn's estimate.

zxcvbn scores a password 0-4 by how many guesses an attacker with dictionaries of common
passwords, names, words, keyboard walks and dates would need; 3 means about 10^8 or more.
"""

from __future__ import annotations

from collections.abc import Sequence

from zxcvbn import zxcvbn

MIN_LENGTH = 12
MIN_SCORE = 3
# zxcvbn refuses to look further (its cost grows with the length); the rest only adds strength.
ESTIMATE_LENGTH = 72


def password_problem(password: str, user_inputs: Sequence[str] = ()) -> str | None:
    """Why the password is too weak, or None when it is good enough."""
    if len(password) < MIN_LENGTH:
        return "must be at least %d characters" % MIN_LENGTH
    result = zxcvbn(password[:ESTIMATE_LENGTH], user_inputs=[u for u in user_inputs if u])
    if result["score"] < MIN_SCORE:
        warning = str(result["feedback"]["warning"] or "It follows a common pattern").rstrip(".")
        warning = warning[:1].lower() + warning[1:]
        return "is too easy to guess (%s); use a longer phrase of unrelated words" % warning
    return None
