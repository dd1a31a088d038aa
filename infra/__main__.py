from infra.ops.cli import main

raise SystemExit(main())
