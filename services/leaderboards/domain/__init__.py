"""Pure rules of the leaderboards service (no flask, pymongo, redis, rq or marshmallow here)."""
