from bulk_uploader.cli import main

raise SystemExit(main())
