"""milestones: the history of deep learning, 2012-2020, as ten runnable, verified programs."""

__version__ = "0.1.0"
