"""Classification of activities into the learning taxonomy, as pure functions."""

from streams.classify.rules import CLASSIFIER_VERSION, Classification, classify_activity
from streams.classify.topics import tag_topics

__all__ = ["CLASSIFIER_VERSION", "Classification", "classify_activity", "tag_topics"]
