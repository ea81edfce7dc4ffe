"""Request records: buffered on the request path, flushed to the database in batches."""
