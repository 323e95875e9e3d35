import sys

from reviewsvc.audit.cli import main

sys.exit(main())
