"""shoprank's own NVTabular operators, one per file."""
