"""``python -m pykeepalived`` is the ``pykeepalived`` command."""

from pykeepalived.cli import main

raise SystemExit(main())
