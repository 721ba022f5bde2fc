"""Run a MicroPython node: ``micropython agent/mp/main.py CONFIG.json``.

CONFIG.json holds the :class:`mpnode.Node` settings, with ``spec`` either a
model description dict or the path of a JSON file holding one. The frame
twin (``frame_twin``, ``twin_kernels``, ``twin_chunk``) is imported from
the folder above this one, or from the board's own ``/lib`` when the files
were copied there. Prints one JSON line when the job is done: device,
rounds answered, the host's verdicts, the last mini-batch loss, the
mean milliseconds per round of the gradient and of selection + encoding,
the most heap in use after a round, and the frames from the host dropped
because they did not verify under the job key.
"""
import json
import sys


def _add_paths():
    here = __file__.rsplit("/", 1)[0] if "/" in __file__ else "."
    for path in (here, here + "/.."):
        if path not in sys.path:
            sys.path.append(path)


def main(argv: list) -> int:
    _add_paths()
    from mpnode import Node

    if len(argv) != 2:
        print("usage: micropython agent/mp/main.py CONFIG.json")
        return 2
    with open(argv[1]) as handle:
        config = json.load(handle)
    if isinstance(config.get("spec"), str):
        with open(config["spec"]) as handle:
            config["spec"] = json.load(handle)
    node = Node(config)
    node.run()
    rounds = max(1, node.rounds_done)
    report = {"device_id": node.device, "rounds": node.rounds_done, "last_loss": node.last_loss,
              "grad_ms_per_round": node.grad_ms // rounds,
              "select_encode_ms_per_round": node.select_encode_ms // rounds,
              "heap_in_use_bytes": node.heap_peak, "auth_dropped": node.auth_dropped}
    report.update(node.outcomes)
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
