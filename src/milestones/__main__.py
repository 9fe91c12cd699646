"""`python -m milestones ...` (and `torchrun ... -m milestones train NAME`)."""

from .cli import main

if __name__ == "__main__":
    main()
