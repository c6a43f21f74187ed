"""What is on disk: the SQLite database, the FAISS file, the word index file, the write lock."""
