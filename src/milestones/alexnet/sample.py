"""`milestones sample alexnet --run DIR`: the trained net on test examples (samples/predictions.png).
The classifiers share it: see tasks/classification_sample.py; AlexNet's serves the test images as
its training did (`--inputs mean_image`)."""

from functools import partial

from ..tasks.classification_sample import INPUTS, Options
from ..tasks.classification_sample import sample as shared_sample
from .task import AlexNetTask

sample = partial(shared_sample, served=AlexNetTask.served)

__all__ = ["INPUTS", "Options", "sample"]
