"""``python -m benchmarks [--quick] [--no-write] ...``"""

import sys

from benchmarks._suite import main

sys.exit(main())
