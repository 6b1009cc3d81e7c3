"""`python -m flows.cli`: the seqarena command."""

from flows.cli.main import main

raise SystemExit(main())
