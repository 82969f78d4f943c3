from thinksafe.models.base import Model, ModelLoadError, ModelOptions, load_model, parse_spec

__all__ = ["Model", "ModelLoadError", "ModelOptions", "load_model", "parse_spec"]
