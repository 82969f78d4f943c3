"""thinksafe: measure and improve the safety of large reasoning models."""

from thinksafe.pipeline import evaluate, evaluate_async
from thinksafe.schema import Completion, GenerationParams, Judgement, Message, Metric, RunSummary, Sample

__all__ = [
    "Completion", "GenerationParams", "Judgement", "Message", "Metric", "RunSummary", "Sample", "evaluate", "evaluate_async",
]
__version__ = "0.1.0"
