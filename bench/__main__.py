"""`python -m bench`: the whole benchmark, one table, written to docs/performance.md as well."""

import multiprocessing

from bench.run import main

if __name__ == "__main__":
    multiprocessing.freeze_support()
    main()
