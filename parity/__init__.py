"""R-parity harness for interlace: reference data, catalog and fixtures."""
