"""The reader's feed: saved questions (watches), liked papers, and `news`, the papers that entered the index since
the last look, ranked by how well each matches a watch or a like, each pick saying what it matched and why.

The watches, likes and the last-seen mark live in the index's database (semsearch/storage/store.py), so they
survive `rebuild`.
"""

from semsearch.feed.news import DEFAULT_LIMIT, Feed, Match, Pick, mark_seen, news
from semsearch.feed.state import (
    FeedError,
    Like,
    Watch,
    add_watch,
    likes,
    remove_watch,
    set_liked,
    watches,
)

__all__ = [
    "DEFAULT_LIMIT",
    "Feed",
    "FeedError",
    "Like",
    "Match",
    "Pick",
    "Watch",
    "add_watch",
    "likes",
    "mark_seen",
    "news",
    "remove_watch",
    "set_liked",
    "watches",
]
