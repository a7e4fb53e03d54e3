"""Pure rules of the peer-review service (no flask, pymongo, redis, rq or marshmallow here)."""
