"""Pricing: a pure function of token counts and a price row (imports nothing of ours)."""
