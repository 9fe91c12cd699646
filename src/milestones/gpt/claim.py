"""GPT claims (being written)."""

CLAIMS: list = []
