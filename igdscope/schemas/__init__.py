"""construct schemas, one module per format."""
