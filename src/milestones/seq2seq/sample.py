"""`milestones sample seq2seq --run DIR "four hundred and twelve" [--beam K] [--attention PNG]`:
translate with a trained run, and draw where the decoder looked (tasks/translation_sample.py,
which the Transformer's sample shares)."""

from ..tasks.translation_sample import INPUTS, Options, sample

__all__ = ["INPUTS", "Options", "sample"]
