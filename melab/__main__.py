from melab.cli import main

raise SystemExit(main())
