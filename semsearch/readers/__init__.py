"""One reader per input format (digest text, HTML page, e-mail, JSON records); `semsearch.digest` picks among them."""
