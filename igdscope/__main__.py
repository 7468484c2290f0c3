from igdscope.cli import main

raise SystemExit(main())
