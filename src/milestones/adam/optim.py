"""The Adam milestone's optimizers, where a reader of this folder looks for them.

They live in the optimizer library every milestone uses: optim/adam.py (Adam, AMSGrad, AdamW,
AdaMax: the paper) and optim/classic.py (SGD with Nesterov momentum, AdaGrad, RMSProp,
AdaDelta: the baselines of its Figures 1-2).
"""

from ..optim import *  # noqa: F401,F403
from ..optim import __all__  # noqa: F401
