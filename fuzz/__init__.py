"""Coverage-guided fuzz targets for the parsers; run them with ``scripts/fuzz``."""
