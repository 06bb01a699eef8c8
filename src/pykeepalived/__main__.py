"""``python -m pykeepalived`` is the ``pykeepalived`` command."""

from pykeepalived.entry import main

raise SystemExit(main())
