"""Label rules shared by the stages that produce labels: the import of expert-labelled
attempts (acotd_tui.importing) and grading/calibration (acotd_tui.pipeline).

They live here, not in the pipeline, so importing does not depend on the pipeline (an
import-linter contract in pyproject.toml). Import the modules themselves; nothing is
re-exported here.
"""
