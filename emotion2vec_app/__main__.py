import sys

from emotion2vec_app.cli import main

sys.exit(main())
