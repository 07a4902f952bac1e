"""Where training runs: TensorFlow's distribution strategies (one device, mirrored, multi-worker)."""

from __future__ import annotations

import os

import tensorflow as tf

from .errors import UserError
from .settings import Settings


def get_strategy(config: Settings) -> tf.distribute.Strategy:
    """The default strategy, or MirroredStrategy over the visible GPUs (CPUs when there are none)."""
    gpus = tf.config.list_physical_devices("GPU")
    for gpu in gpus:
        try:
            tf.config.experimental.set_memory_growth(gpu, True)  # the thesis's 4 GB card ran out
        except RuntimeError:
            pass  # already initialised in this process
    if config.distribute == "mirrored":
        return tf.distribute.MirroredStrategy()
    if config.distribute == "multi_worker":
        return multi_worker_strategy()
    return tf.distribute.get_strategy()


_MULTI_WORKER: list[tf.distribute.Strategy] = []


def multi_worker_strategy() -> tf.distribute.Strategy:
    """MultiWorkerMirroredStrategy over the cluster in TF_CONFIG, made once per process (a second one
    would configure TensorFlow's collective ops again, which it refuses)."""
    if not _MULTI_WORKER:
        if not os.environ.get("TF_CONFIG"):
            raise UserError('distribute: "multi_worker" reads the cluster from the TF_CONFIG environment '
                            "variable, which is not set (see README: training across machines)")
        _MULTI_WORKER.append(tf.distribute.MultiWorkerMirroredStrategy())
    return _MULTI_WORKER[0]


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """Whether this process keeps what it writes: always outside a cluster; in one, the "chief" task,
    or worker 0 when the cluster names no chief (TensorFlow's convention)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    cluster = resolver.cluster_spec().as_dict() if resolver is not None else {}
    if not cluster:
        return True
    return resolver.task_type == "chief" or (resolver.task_type == "worker" and resolver.task_id == 0
                                             and "chief" not in cluster)


def describe_devices(strategy: tf.distribute.Strategy) -> str:
    gpus = tf.config.list_physical_devices("GPU")
    where = f"{len(gpus)} GPU(s)" if gpus else "CPU"
    text = f"{where}, {strategy.num_replicas_in_sync} replica(s), strategy {type(strategy).__name__}"
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is not None and resolver.cluster_spec().as_dict():
        workers = sum(len(tasks) for tasks in resolver.cluster_spec().as_dict().values())
        text += f"; this process is {resolver.task_type} {resolver.task_id} of {workers}" + (
            " (chief: keeps checkpoints, logs and exports)" if is_chief(strategy) else "")
    return text


