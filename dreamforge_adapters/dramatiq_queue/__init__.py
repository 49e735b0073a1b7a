"""The stack deployment's job queue: Dramatiq on Redis (GPU queue, IO queue).

Nothing here creates a broker or an actor at import time. The composition root wires it:

    broker = make_broker(settings.redis_url)              # every process
    queue = DramatiqJobQueue(broker)                      # API and worker: enqueue, dead_letter
    declare_job_actor(broker, execute_job, time_limit_ms=...)   # worker only
    run_worker(broker, stop=stop_event)                   # worker only; blocks until stop is set
"""

from dreamforge_adapters.dramatiq_queue.actor import DeadLettered, declare_job_actor
from dreamforge_adapters.dramatiq_queue.broker import close_broker, make_broker, ping
from dreamforge_adapters.dramatiq_queue.job_queue import DramatiqJobQueue
from dreamforge_adapters.dramatiq_queue.keys import GPU_QUEUE, IO_QUEUE, actor_name_for
from dreamforge_adapters.dramatiq_queue.records import DeadLetter
from dreamforge_adapters.dramatiq_queue.warm_roster import RedisWarmRoster
from dreamforge_adapters.dramatiq_queue.worker import run_worker, start_worker

__all__ = [
    "GPU_QUEUE",
    "IO_QUEUE",
    "DeadLetter",
    "DeadLettered",
    "DramatiqJobQueue",
    "RedisWarmRoster",
    "actor_name_for",
    "close_broker",
    "declare_job_actor",
    "make_broker",
    "ping",
    "run_worker",
    "start_worker",
]
