"""Classifiers; importing this package registers them in ``MODELS``."""

from workers.models.classifiers.image import ImageClassifier

__all__ = ["ImageClassifier"]
