"""`milestones sample alexnet --run DIR`: the trained net on test examples (samples/predictions.png).
The classifiers share it: see tasks/classification_sample.py."""

from ..tasks.classification_sample import INPUTS, Options, sample

__all__ = ["INPUTS", "Options", "sample"]
