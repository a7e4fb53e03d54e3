"""Pure rules of the challenges service (no flask, pymongo, redis, rq or marshmallow here)."""
