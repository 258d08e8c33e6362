"""Jobs: a queue with leases, workers, retries, URL ingestion (DESIGN.md §6)."""
