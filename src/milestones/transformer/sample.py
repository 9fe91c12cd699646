"""`milestones sample transformer --run DIR "four hundred and twelve" [--beam K] [--attention PNG]`:
translate with a trained run; the attention drawn is the last decoder layer's over the source,
averaged over heads (tasks/translation_sample.py, which seq2seq's sample shares)."""

from ..tasks.translation_sample import INPUTS, Options, sample

__all__ = ["INPUTS", "Options", "sample"]
