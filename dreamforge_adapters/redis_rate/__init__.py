"""Job creations per caller and minute counted in Redis, so that every API replica of the stack
enforces one limit."""

from dreamforge_adapters.redis_rate.creation_rate import RedisCreationRate

__all__ = ["RedisCreationRate"]
