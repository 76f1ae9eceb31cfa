"""``python -m bench`` runs the command line."""

from bench.cli import main

raise SystemExit(main())
