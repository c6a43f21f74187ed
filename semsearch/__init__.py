"""semsearch: semantic search over the abstracts of research papers from daily digests."""

__version__ = "0.1.0"
