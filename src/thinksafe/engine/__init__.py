"""The paged inference engine behind `hf:`: scheduler (paged.py), the model in paged form (model.py), decode ops (ops.py) and their Triton kernels (kernels.py)."""
