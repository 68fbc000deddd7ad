"""Start the emotion2vec WebUI: the same as `emotion2vec-app serve` (try --help)."""

import sys

from emotion2vec_app.cli import main

if __name__ == "__main__":
    sys.exit(main(["serve", *sys.argv[1:]]))
