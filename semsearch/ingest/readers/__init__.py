"""One reader per input format (digest text, HTML page, e-mail, JSON records); `semsearch.ingest.digest` picks
among them."""
