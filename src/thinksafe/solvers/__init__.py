"""Solvers: how a sample becomes a conversation and a completion (single turn, a simulated dialogue)."""
