"""Forward and backward of a Sparrow model in pure Python, for MicroPython.

The model is the host's model description (agent/common/modelspec.py,
``ModelSpec.to_dict()`` as JSON): layers ``conv1d`` (stride, zero padding),
``relu``, ``maxpool1d``, ``avgpool1d``, ``flatten``, ``dense``, and softmax
cross-entropy averaged over the batch: the maths of agent/npmodel.py and of
the firmware's nn/, with the same flat parameter layout (per layer its
weight, then its bias; a conv1d weight is ``(out, in, kernel)``, a dense
weight ``(out, in)``; activations are channel-major ``(C, L)``). A model
with any other kind (``conv2d``, the 2-D pools, ``dropout``) is refused when
:class:`Model` is built, naming the layer and the kinds of :data:`KINDS`.

Memory is one ``array('f')`` per layer output and per backward buffer,
allocated once; samples are processed one at a time, so the batch size costs
no RAM. The loops are compiled by the ``native`` emitter where the port has
it: they are float arithmetic, which viper does not type natively, so viper
would not pay here (the frame twin's integer loops use it).
"""
from array import array
import math

try:
    import micropython
    native = micropython.native
except (ImportError, AttributeError):  # CPython (its "micropython" module is the launcher)
    def native(func):
        return func


KINDS = ("conv1d", "relu", "maxpool1d", "avgpool1d", "flatten", "dense")


def _out_len(size, kernel, stride, padding):
    return (size + 2 * padding - kernel) // stride + 1


@native
def _conv_forward(p, wo, bo, x, cin, lin, out, cout, lout, k, s, pad):
    for o in range(cout):
        bias = p[bo + o]
        for t in range(lout):
            acc = bias
            start = t * s - pad
            for c in range(cin):
                xb = c * lin + start
                wb = wo + (o * cin + c) * k
                for j in range(k):
                    xi = start + j
                    if 0 <= xi < lin:
                        acc += p[wb + j] * x[xb + j]
            out[o * lout + t] = acc


@native
def _conv_backward(p, g, wo, bo, x, cin, lin, dout, cout, lout, k, s, pad, dx, want_dx):
    for o in range(cout):
        for t in range(lout):
            d = dout[o * lout + t]
            if d == 0.0:
                continue
            g[bo + o] += d
            start = t * s - pad
            for c in range(cin):
                xb = c * lin + start
                wb = wo + (o * cin + c) * k
                for j in range(k):
                    xi = start + j
                    if 0 <= xi < lin:
                        g[wb + j] += d * x[xb + j]
                        if want_dx:
                            dx[xb + j] += p[wb + j] * d


@native
def _dense_forward(p, wo, bo, x, nin, out, nout):
    for o in range(nout):
        acc = p[bo + o]
        wb = wo + o * nin
        for i in range(nin):
            acc += p[wb + i] * x[i]
        out[o] = acc


@native
def _dense_backward(p, g, wo, bo, x, nin, dout, nout, dx, want_dx):
    for o in range(nout):
        d = dout[o]
        g[bo + o] += d
        wb = wo + o * nin
        for i in range(nin):
            g[wb + i] += d * x[i]
            if want_dx:
                dx[i] += p[wb + i] * d


class Layer:
    """One layer: its kind, shapes, parameter offsets and buffers."""

    def __init__(self, kind, cfg, in_shape):
        if kind not in KINDS:
            raise ValueError("layer kind %r is not supported on MicroPython; supported: %s"
                             % (kind, ", ".join(KINDS)))
        self.kind = kind
        self.in_shape = in_shape
        self.n_params = 0
        self.k = cfg.get("kernel", 0)
        self.s = cfg.get("stride") or (1 if kind == "conv1d" else self.k)
        self.pad = cfg.get("padding", 0)
        if kind == "conv1d":
            cin, lin = in_shape
            cout = cfg["out_channels"]
            self.out_shape = (cout, _out_len(lin, self.k, self.s, self.pad))
            self.n_params = cout * cin * self.k + cout
        elif kind in ("maxpool1d", "avgpool1d"):
            self.out_shape = (in_shape[0], _out_len(in_shape[1], self.k, self.s, 0))
        elif kind == "flatten":
            size = 1
            for d in in_shape:
                size *= d
            self.out_shape = (size,)
        elif kind == "dense":
            self.out_shape = (cfg["out_features"],)
            self.n_params = cfg["out_features"] * in_shape[0] + cfg["out_features"]
        else:
            self.out_shape = in_shape
        if min(self.out_shape) < 1:
            raise ValueError("%s layer does not fit its input %r" % (kind, in_shape))
        self.in_size = _size(in_shape)
        self.out_size = _size(self.out_shape)
        self.out = array("f", bytes(4 * self.out_size))
        self.dx = array("f", bytes(4 * self.in_size))
        self.arg = array("H", bytes(2 * self.out_size)) if kind == "maxpool1d" else None
        self.wo = 0
        self.bo = 0


def _size(shape):
    n = 1
    for d in shape:
        n *= d
    return n


class Model:
    """A model description with buffers, ready for :meth:`loss_and_grad`.

    Parameters
    ----------
    spec : dict
        ``ModelSpec.to_dict()``: ``input_shape``, ``num_classes``, ``layers``.
    """

    def __init__(self, spec: dict) -> None:
        self.name = spec.get("name", "model")
        for i, cfg in enumerate(spec["layers"]):
            kind = cfg.get("kind")
            if kind not in KINDS:
                # Refuse before any buffer is allocated, in one line.
                raise ValueError("%s: layer %d (%s) is not supported on MicroPython; supported: %s"
                                 % (self.name, i, kind, ", ".join(KINDS)))
        shape = tuple(spec["input_shape"])
        if len(shape) != 2:
            raise ValueError("input_shape must be (channels, length) for a 1-D model")
        self.num_classes = spec["num_classes"]
        self.input_size = _size(shape)
        self.layers = []
        offset = 0
        for cfg in spec["layers"]:
            layer = Layer(cfg["kind"], cfg, shape)
            if layer.n_params:
                layer.wo = offset
                layer.bo = offset + layer.n_params - layer.out_shape[0]
                offset += layer.n_params
            self.layers.append(layer)
            shape = layer.out_shape
        if shape != (self.num_classes,):
            raise ValueError("the last layer gives %r, not (%d,) logits" % (shape, self.num_classes))
        self.num_params = offset
        self.probs = array("f", bytes(4 * self.num_classes))
        self.dlogits = array("f", bytes(4 * self.num_classes))

    def forward(self, p: array, x: array) -> array:
        """Logits of one sample ``x`` (array('f') of the input size)."""
        for layer in self.layers:
            _forward(layer, p, x)
            x = layer.out
        return x

    def loss_and_grad(self, p: array, samples: list, labels: list, g: array) -> float:
        """Add d(mean loss)/d(params) of a batch into ``g``; return the mean loss.

        Parameters
        ----------
        p : array('f')
            Flat parameters.
        samples : list of array('f')
            The batch's inputs.
        labels : list of int
            Their classes.
        g : array('f')
            Gradient accumulator, same length as ``p`` (added to, not cleared).
        """
        batch = len(samples)
        total = 0.0
        for x, y in zip(samples, labels):
            logits = self.forward(p, x)
            total += self._softmax_ce(logits, y, 1.0 / batch)
            d = self.dlogits
            for i in range(len(self.layers) - 1, -1, -1):
                layer = self.layers[i]
                below = self.layers[i - 1].out if i else x
                _backward(layer, p, g, below, d, i > 0)
                d = layer.dx
        return total / batch

    def _softmax_ce(self, logits, y, scale):
        top = logits[0]
        for v in logits:
            if v > top:
                top = v
        total = 0.0
        for i in range(self.num_classes):
            e = math.exp(logits[i] - top)
            self.probs[i] = e
            total += e
        for i in range(self.num_classes):
            q = self.probs[i] / total
            self.dlogits[i] = (q - (1.0 if i == y else 0.0)) * scale
        return -math.log(max(self.probs[y] / total, 1e-30))

    def predict(self, p: array, x: array) -> int:
        """Index of the largest logit."""
        logits = self.forward(p, x)
        best = 0
        for i in range(1, self.num_classes):
            if logits[i] > logits[best]:
                best = i
        return best


def _forward(layer, p, x):
    kind = layer.kind
    out = layer.out
    if kind == "conv1d":
        cin, lin = layer.in_shape
        cout, lout = layer.out_shape
        _conv_forward(p, layer.wo, layer.bo, x, cin, lin, out, cout, lout, layer.k, layer.s, layer.pad)
    elif kind == "dense":
        _dense_forward(p, layer.wo, layer.bo, x, layer.in_size, out, layer.out_size)
    elif kind == "relu":
        for i in range(layer.out_size):
            v = x[i]
            out[i] = v if v > 0.0 else 0.0
    elif kind == "flatten":
        for i in range(layer.out_size):
            out[i] = x[i]
    else:
        _pool_forward(layer, x)


def _pool_forward(layer, x):
    c_n, lin = layer.in_shape
    lout = layer.out_shape[1]
    k, s = layer.k, layer.s
    out, arg = layer.out, layer.arg
    for c in range(c_n):
        for t in range(lout):
            base = c * lin + t * s
            if arg is not None:
                best = base
                for j in range(base + 1, base + k):
                    if x[j] > x[best]:
                        best = j
                out[c * lout + t] = x[best]
                arg[c * lout + t] = best
            else:
                acc = 0.0
                for j in range(base, base + k):
                    acc += x[j]
                out[c * lout + t] = acc / k


def _backward(layer, p, g, x, dout, want_dx):
    kind = layer.kind
    dx = layer.dx
    if kind == "conv1d":
        cin, lin = layer.in_shape
        cout, lout = layer.out_shape
        if want_dx:
            _clear(dx)
        _conv_backward(p, g, layer.wo, layer.bo, x, cin, lin, dout, cout, lout, layer.k, layer.s,
                       layer.pad, dx, want_dx)
    elif kind == "dense":
        if want_dx:
            _clear(dx)
        _dense_backward(p, g, layer.wo, layer.bo, x, layer.in_size, dout, layer.out_size, dx, want_dx)
    elif kind == "relu":
        out = layer.out
        for i in range(layer.out_size):
            dx[i] = dout[i] if out[i] > 0.0 else 0.0
    elif kind == "flatten":
        for i in range(layer.in_size):
            dx[i] = dout[i]
    elif kind == "maxpool1d":
        _clear(dx)
        arg = layer.arg
        for i in range(layer.out_size):
            dx[arg[i]] += dout[i]
    else:
        _clear(dx)
        c_n, lin = layer.in_shape
        lout = layer.out_shape[1]
        k, s = layer.k, layer.s
        for c in range(c_n):
            for t in range(lout):
                share = dout[c * lout + t] / k
                base = c * lin + t * s
                for j in range(base, base + k):
                    dx[j] += share


def _clear(buf):
    for i in range(len(buf)):
        buf[i] = 0.0
