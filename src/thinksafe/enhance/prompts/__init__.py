"""System prompts used when generating fine-tuning targets (our own words)."""
