"""Tasks several milestones share: image classification, translation (and its sampling).

A milestone's task.py is then a thin subclass: its config (the shared fields plus its model's),
its presets, and how its model is built from the data.
"""
