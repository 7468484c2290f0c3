from igdscope.cli.main import main

raise SystemExit(main())
