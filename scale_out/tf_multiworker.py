"""Chapter 07's data-parallel training script for TensorFlow/Keras (tf.distribute).

    python scale_out/launch.py --nproc 2 --config run/config.json
        MultiWorkerMirroredStrategy: one process per worker, each with its own TF_CONFIG
        (the launcher writes them, with free loopback ports)
    python scale_out/tf_multiworker.py --config run/config.json --strategy mirrored --replicas 2
        MirroredStrategy: one process, N logical CPU devices (every GPU, on a GPU machine)
    python scale_out/tf_multiworker.py --config run/config.json
        one replica: the reference run

The config is torch_ddp.py's (scale_out_common.REQUIRED, and `fault_step`, `log_every`,
`collective_timeout_s`, `threads_per_rank`). Each worker writes run/rank{r}.json (its losses,
step times, the indices its replicas trained on, its devices and TF_CONFIG) and
run/weights_rank{r}.npz; worker 0 alone prints, and saves run/checkpoint.npz (weights, optimizer
state, step, world size) every `checkpoint_every` steps. A run that finds a checkpoint resumes
from it.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import numpy as np  # noqa: E402
from scale_out_common import check_world, global_batch_indices, load_config  # noqa: E402


def worker_from_tf_config() -> tuple[int, int] | None:
    """(this worker's index, the number of workers) from TF_CONFIG; None without one."""
    text = os.environ.get("TF_CONFIG")
    if not text:
        return None
    try:
        tf_config = json.loads(text)
        workers, task = tf_config["cluster"]["worker"], tf_config["task"]
        index = int(task["index"])
    except (ValueError, KeyError, TypeError) as e:
        raise SystemExit(
            f"TF_CONFIG needs a cluster with a worker list and this process's task, as "
            f'{{"cluster": {{"worker": ["host:port", ...]}}, "task": {{"type": "worker", '
            f'"index": 0}}}}; got {text!r} ({type(e).__name__}: {e})') from None
    if task.get("type") != "worker" or not 0 <= index < len(workers):
        raise SystemExit(f"TF_CONFIG's task must be a worker with an index below "
                         f"{len(workers)}; got {task}")
    return index, len(workers)


def make_strategy(args, cfg):
    """The strategy, and this process's worker index (0 unless multi-worker)."""
    import tensorflow as tf

    threads = cfg.get("threads_per_rank", 1)
    worker = worker_from_tf_config()
    if args.strategy == "mirrored":
        cpus = tf.config.list_physical_devices("CPU")
        tf.config.set_logical_device_configuration(
            cpus[0], [tf.config.LogicalDeviceConfiguration()] * args.replicas)
        tf.config.threading.set_intra_op_parallelism_threads(threads * args.replicas)
        gpus = tf.config.list_physical_devices("GPU")
        devices = None if gpus else [f"/cpu:{i}" for i in range(args.replicas)]
        return tf.distribute.MirroredStrategy(devices), 0
    tf.config.threading.set_intra_op_parallelism_threads(threads)
    # one operation at a time: with two running side by side, a large batch's kernels split
    # their work otherwise from run to run, and the same run ends on other bits
    tf.config.threading.set_inter_op_parallelism_threads(1)
    if worker is None:
        return tf.distribute.get_strategy(), 0  # the default: one replica, no communication
    options = tf.distribute.experimental.CommunicationOptions(
        timeout_seconds=cfg.get("collective_timeout_s", 60))
    return tf.distribute.MultiWorkerMirroredStrategy(communication_options=options), worker[0]


def cnn():
    """torch_ddp.py's CNN in Keras: GroupNorm, no BatchNorm (94,410 parameters)."""
    import keras
    from keras import layers

    def block(c, stride):
        return [layers.Conv2D(c, 3, stride, padding="same"),
                layers.GroupNormalization(8, epsilon=1e-5), layers.ReLU()]

    return keras.Sequential([keras.Input((28, 28, 1)), *block(32, 1), *block(64, 2),
                             *block(128, 2), layers.GlobalAveragePooling2D(), layers.Dense(10)])


def time_allreduce(strategy, sizes: list[int], repeats: int) -> list[list[float]]:
    """[bytes, median seconds of one all-reduce] for float32 tensors of each size in bytes,
    summed over the replicas as the gradients are: the numbers the notebook's cost model is
    calibrated with (the median: on shared cores a few calls wait for the other process to be
    scheduled)."""
    import tensorflow as tf

    def allreduce_of(tensor):  # a call that returns once the all-reduce is done
        @tf.function
        def allreduce():
            return strategy.run(
                lambda: tf.distribute.get_replica_context().all_reduce("SUM", tensor))
        return lambda: strategy.experimental_local_results(allreduce())[0][:1].numpy()

    barrier = allreduce_of(tf.ones([1]))  # every worker waits for the others here
    out = []
    for size in sizes:
        allreduce = allreduce_of(tf.ones([size // 4]))
        allreduce()  # warm-up: traces, connects
        times = []
        for _ in range(repeats):
            barrier()  # start together, so a call does not include waiting for the other
            tick = time.perf_counter()
            allreduce()
            times.append(time.perf_counter() - tick)
        out.append([size, float(np.median(times))])
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True, help="the run's JSON config")
    parser.add_argument("--strategy", choices=("multiworker", "mirrored"), default="multiworker",
                        help="multiworker: from TF_CONFIG (one replica without it); mirrored: "
                             "one process, --replicas devices")
    parser.add_argument("--replicas", type=int, default=2, help="MirroredStrategy's replicas")
    args = parser.parse_args()
    cfg = load_config(args.config)
    run = Path(cfg["run_dir"])
    strategy, worker = make_strategy(args, cfg)
    import keras
    import tensorflow as tf

    world = strategy.num_replicas_in_sync
    local_batch, global_batch = check_world(cfg["global_batch"], world), cfg["global_batch"]
    data = np.load(cfg["data"])  # uint8 images (n, 28, 28) and labels, written by the notebook
    images, labels = data["x"], data["y"].astype(np.int32)

    class Warmup(keras.optimizers.schedules.LearningRateSchedule):
        def __call__(self, step):  # Keras passes its step counter: lr_at(step) of the config
            peak = cfg["lr_reference"] * global_batch / 128
            return peak * tf.minimum(1.0, (tf.cast(step, tf.float32) + 1) / cfg["warmup"])

    with strategy.scope():  # variables created here are mirrored on every replica
        keras.utils.set_random_seed(cfg["seed"])  # the same initial weights everywhere
        model = cnn()
        optimizer = keras.optimizers.SGD(Warmup(), momentum=0.9)
        optimizer.build(model.trainable_variables)

    start_step, ckpt = 0, run / "checkpoint.npz"
    if ckpt.is_file():
        state = np.load(ckpt)
        if int(state["world_size"]) != world or int(state["global_batch"]) != global_batch:
            raise SystemExit(
                f"{ckpt} was written by a run with {int(state['world_size'])} processes and "
                f"global batch {int(state['global_batch'])}; this run has {world} and "
                f"{global_batch}: resume with the same settings or use a new run folder")
        model.set_weights([state[f"w{i}"] for i in range(len(model.weights))])
        for i, variable in enumerate(optimizer.variables):
            variable.assign(state[f"o{i}"])
        start_step = int(state["step"])

    def shard(batch):
        """Each replica's slice of the global batch, as one distributed value."""
        def value(context):
            mine = batch[context.replica_id_in_sync_group * local_batch:][:local_batch]
            return (tf.constant(images[mine][..., None].astype(np.float32) / 255),
                    tf.constant(labels[mine]))
        return strategy.experimental_distribute_values_from_function(value)

    @tf.function
    def train_step(x, y):
        def replica(x, y):
            with tf.GradientTape() as tape:
                per_image = keras.losses.sparse_categorical_crossentropy(
                    y, model(x, training=True), from_logits=True)
                # divided by the GLOBAL batch: the optimizer sums the replicas' gradients
                loss = tf.nn.compute_average_loss(per_image, global_batch_size=global_batch)
            optimizer.apply(tape.gradient(loss, model.trainable_variables),
                            model.trainable_variables)
            return loss
        return strategy.reduce("SUM", strategy.run(replica, args=(x, y)), axis=None)

    if strategy is tf.distribute.get_strategy():  # the default strategy lists no devices
        devices = [(tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices())[0]
                   .name]
    else:
        devices = list(strategy.extended.worker_devices)  # this process's replicas
    first = worker * len(devices) * local_batch  # this process's replicas' slices, together
    log = {"rank": worker, "world": world, "start_step": start_step, "losses": [],
           "step_seconds": [], "indices": [], "device": devices[0], "devices": devices,
           "tf_config": json.loads(os.environ.get("TF_CONFIG") or "null")}
    writer = None
    if worker == 0 and cfg.get("tensorboard"):  # worker 0 alone writes TensorBoard
        writer = tf.summary.create_file_writer(str(run / "tensorboard"))
    for step in range(start_step, cfg["steps"]):
        if step == cfg.get("fault_step") and worker == 1 and start_step == 0:
            os.kill(os.getpid(), signal.SIGKILL)  # the fault section's "machine failure"
        batch = global_batch_indices(len(images), global_batch, step, cfg["seed"])
        x, y = shard(batch)
        tick = time.perf_counter()
        loss = float(train_step(x, y))  # the global batch's mean loss, on every worker
        log["step_seconds"].append(time.perf_counter() - tick)
        log["indices"].append(batch[first:][:len(devices) * local_batch].tolist())
        log["losses"].append(loss)
        done = step + 1
        if worker == 0 and (done % cfg["checkpoint_every"] == 0 or done == cfg["steps"]):
            tmp = run / "checkpoint.tmp.npz"
            np.savez(tmp, step=done, world_size=world, global_batch=global_batch,
                     **{f"w{i}": w for i, w in enumerate(model.get_weights())},
                     **{f"o{i}": keras.ops.convert_to_numpy(v)
                        for i, v in enumerate(optimizer.variables)})
            os.replace(tmp, ckpt)  # never a half-written checkpoint
        if worker == 0 and done % cfg.get("log_every", 10) == 0:
            print(f"step {done}: loss {loss:.4f}", flush=True)
            if writer:
                with writer.as_default():
                    tf.summary.scalar("loss", loss, step=done)
    if writer:
        writer.close()
    if world > 1 and cfg.get("allreduce_bytes"):
        log["allreduce"] = time_allreduce(strategy, cfg["allreduce_bytes"],
                                          cfg.get("comm_repeats", 10))
    np.savez(run / f"weights_rank{worker}.npz", *model.get_weights())
    (run / f"rank{worker}.json").write_text(json.dumps(log))


if __name__ == "__main__":
    main()
