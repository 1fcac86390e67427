"""`python -m salesdw_dev.simulate`: the same as `salesdw serve-sources`."""

import sys

from salesdw_dev.simulate.server import main

if __name__ == "__main__":  # Airflow's plugin manager imports every module under plugins/
    sys.exit(main())
