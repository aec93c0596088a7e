"""`python -m gpubridge` is the `gpubridge` command."""
import sys

from .cli import main

sys.exit(main())
