"""`ingestctl`: the command line of the product."""
