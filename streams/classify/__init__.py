"""Classification of activities into the learning taxonomy: pure functions, words in data files."""

from streams.classify.classifier import Classifier, build_classifier, default_classifier, load_classifier
from streams.classify.rules import Classification, ThreadContext

__all__ = [
    "Classification",
    "Classifier",
    "ThreadContext",
    "build_classifier",
    "default_classifier",
    "load_classifier",
]
