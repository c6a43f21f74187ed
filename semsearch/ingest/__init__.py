"""Files -> records: digest files of every format read into Digest records."""
