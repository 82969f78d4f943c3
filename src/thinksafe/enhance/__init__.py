"""Safety enhancement: fine-tuning data (`data`), training (`train`), before/after report (`compare`)."""
