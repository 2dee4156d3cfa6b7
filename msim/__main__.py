"""``python -m msim``: the same as the ``msim`` command."""

from .cli import main

raise SystemExit(main())
