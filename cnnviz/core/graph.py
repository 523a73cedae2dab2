"""The graph toolkit: every torch.fx trace, graph rewrite and shape pass of cnnviz goes through here.

* :class:`Tracer`: torch.fx's symbolic tracer, one trace at a time (:data:`TRACE_LOCK`), and safe beside
  forward passes in other threads. While it traces, torch.fx patches ``nn.Module.__call__`` and
  ``nn.Module.__getattr__`` for the whole process; without the guard here, a forward pass that another
  session runs at that moment goes through the tracer (a ``NameError: module is not installed as a
  submodule``, or worse, its calls recorded into the graph being traced). Calls from other threads pass
  straight through to the module.
* :func:`trace`: the model's graph with leaf modules (modules without children) kept whole, traced once per
  module and cached.
* :func:`out_of_place`: in-place ops of a graph copy rewritten out of place (``x += y``, ``relu_``), so an
  output read from the middle of the graph is never overwritten by a later op.
* :func:`call_key` / :func:`split_key`: the one naming rule of module calls (``name``, ``name#2``, ...).
* :func:`shape_prop`: output shapes of every node, with fake tensors (no compute) where the ops allow.
* cutting a graph at a node: :func:`head_until` (the graph ending at a node) and :func:`split_at` (the
  network before a layer call and the network after it, as two GraphModules sharing the model's layers).

Examples::

    >>> import torchvision
    >>> g = trace(torchvision.models.resnet18())
    >>> sum(n.op == "call_module" for n in g.nodes)
    51
    >>> split_key("layer1.0.relu#2")
    ('layer1.0.relu', 2)
"""
from __future__ import annotations

import copy
import logging
import operator
import threading
import weakref
from typing import Any

import torch
from torch import fx, nn

from cnnviz.errors import CnnvizError, LayerError, foreign

# torch.fx tracing patches nn.Module.__call__ process-wide while it runs: one trace at a time
TRACE_LOCK = threading.RLock()


class Untraceable(CnnvizError):
    """torch.fx cannot follow the module (or fake tensors cannot run it): callers fall back."""


# in-place ops a trace may contain -> their out-of-place twins
_INPLACE_FUNCTIONS = {operator.iadd: operator.add, operator.isub: operator.sub, operator.imul: operator.mul,
                      operator.itruediv: operator.truediv, operator.ifloordiv: operator.floordiv,
                      operator.imod: operator.mod, operator.ipow: operator.pow, operator.iand: operator.and_,
                      operator.ior: operator.or_, operator.ixor: operator.xor}


class Tracer(fx.Tracer):
    """torch.fx's tracer, one at a time and invisible to forward passes in other threads.

    Args:
        leaves: ``"childless"``: every module without children is a leaf (kept whole as one
            ``call_module`` node; the capture engine's rule); ``"torch"``: torch.fx's own rule (the
            modules of ``torch.nn`` are leaves, user modules are traced through).
        containers: also record the output node of every non-leaf module call in
            ``container_outputs`` as ``(qualified name, class name, node)`` (receptive fields of blocks).
    """

    def __init__(self, leaves: str = "childless", containers: bool = False) -> None:
        super().__init__()
        if leaves not in ("childless", "torch"):
            raise ValueError(f"leaves must be 'childless' or 'torch', not {leaves!r}")
        self.leaves = leaves
        self.containers = containers
        self.container_outputs: list[tuple[str, str, fx.Node]] = []
        self._thread: int | None = None

    def trace(self, root, concrete_args=None) -> fx.Graph:
        with TRACE_LOCK:
            self._thread = threading.get_ident()
            try:
                return super().trace(root, concrete_args)
            finally:
                self._thread = None

    def _foreign(self) -> bool:
        """A call made by another thread while this tracer has nn.Module patched."""
        return threading.get_ident() != self._thread

    def is_leaf_module(self, m: nn.Module, module_qualified_name: str) -> bool:
        if self.leaves == "childless":
            return not any(True for _ in m.children())
        return super().is_leaf_module(m, module_qualified_name)

    def call_module(self, m: nn.Module, forward, args, kwargs):
        if self._foreign():
            return forward(*args, **kwargs)  # nn.Module.__call__ as it was before the patch
        out = super().call_module(m, forward, args, kwargs)
        if self.containers:
            try:
                name = self.path_of_module(m)
            except NameError:
                return out
            if name and not self.is_leaf_module(m, name) and isinstance(out, fx.Proxy):
                self.container_outputs.append((name, type(m).__name__, out.node))
        return out

    def getattr(self, attr: str, attr_val: Any, parameter_proxy_cache: dict[str, Any]):
        if self._foreign():
            return attr_val  # a parameter read by another thread's forward pass stays a tensor
        return super().getattr(attr, attr_val, parameter_proxy_cache)


_traces: weakref.WeakKeyDictionary[nn.Module, fx.Graph | None] = weakref.WeakKeyDictionary()
_cache_lock = threading.Lock()


def trace(module: nn.Module) -> fx.Graph | None:
    """The module's graph with leaf modules kept whole (cached per module; None when it does not trace).

    The cached graph is shared: copy it (``copy.deepcopy``) before rewriting it.
    """
    with _cache_lock:
        if module in _traces:
            return _traces[module]
    with TRACE_LOCK:
        with _cache_lock:
            if module in _traces:
                return _traces[module]
        try:  # data-dependent control flow, unsupported ops: callers fall back (hooks, layer list)
            with foreign(Untraceable, f"torch.fx cannot trace {type(module).__name__} ({{why}})", logging.INFO):
                graph = Tracer().trace(module)
        except Untraceable:
            graph = None
        with _cache_lock:
            _traces[module] = graph
        return graph


def traces(module: nn.Module) -> bool:
    """Whether torch.fx traces ``module`` (the capture engine's fast path, and what graph views need)."""
    return trace(module) is not None


def out_of_place(graph: fx.Graph) -> None:
    """Rewrite the in-place ops of ``graph`` (a copy, never the cached trace) out of place."""
    for node in graph.nodes:
        if node.op == "call_function" and node.target in _INPLACE_FUNCTIONS:
            node.target = _INPLACE_FUNCTIONS[node.target]
        elif node.op == "call_method" and node.target.endswith("_") and not node.target.startswith("_") \
                and hasattr(torch.Tensor, node.target[:-1]):
            node.target = node.target[:-1]  # relu_ -> relu, add_ -> add
        if node.op in ("call_function", "call_method") and node.kwargs.get("inplace") is True:
            node.kwargs = {**node.kwargs, "inplace": False}


def split_key(key: str) -> tuple[str, int | None]:
    """``"layer1.0.relu#2"`` -> ``("layer1.0.relu", 2)``; a plain name -> ``(name, None)`` (every call)."""
    base, sep, k = key.partition("#")
    if sep and k.isdigit() and int(k) >= 1:
        return base, int(k)
    return key, None


def call_key(name: str, k: int) -> str:
    """The key of the ``k``-th call (1-based) of module ``name``: ``name`` for the first, ``name#k`` after."""
    return name if k == 1 else f"{name}#{k}"


def shape_prop(gm: fx.GraphModule, example: torch.Tensor) -> None:
    """Fill every node's ``meta["val"]`` with its output (fake tensors: shapes without compute, where every
    op has a fake kernel; otherwise one real pass under inference mode).

    Examples::

        >>> gm = fx.GraphModule(net, trace(net)); shape_prop(gm, torch.zeros(1, 1, 28, 28))
        >>> [tuple(n.meta["val"].shape) for n in gm.graph.nodes if n.op == "call_module"][:1]
        [(1, 6, 28, 28)]
    """
    from torch._subclasses.fake_tensor import FakeTensorMode
    from torch.fx.passes.fake_tensor_prop import FakeTensorProp

    try:  # an op without a fake kernel (custom ops): run it for real, once
        with foreign(Untraceable, "no fake-tensor pass ({why})", logging.INFO):
            mode = FakeTensorMode(allow_non_fake_inputs=True)
            FakeTensorProp(gm, mode).propagate(mode.from_tensor(example))
            return
    except Untraceable:
        pass

    class _Prop(fx.Interpreter):
        def run_node(self, n):
            out = super().run_node(n)
            n.meta["val"] = out
            return out

    with torch.inference_mode():
        _Prop(gm).run(example)


class CutError(LayerError):
    """A graph cannot be cut where asked (the layer call never happens, or the output does not depend on it)."""


def find_call(graph: fx.Graph, key: str) -> fx.Node | None:
    """The ``call_module`` node of layer call ``key`` (``name`` or ``name#k``, :func:`call_key`), or None."""
    counts: dict[str, int] = {}
    for node in graph.nodes:
        if node.op == "call_module":
            counts[node.target] = counts.get(node.target, 0) + 1
            if call_key(node.target, counts[node.target]) == key or (
                    counts[node.target] == 1 and f"{node.target}#1" == key):
                return node
    return None


def head_until(gm: fx.GraphModule, node: fx.Node) -> fx.GraphModule:
    """The part of ``gm`` that computes ``node`` (one of its nodes): a GraphModule sharing ``gm``'s layers,
    returning that node's value; what only later nodes need is left out."""
    g = fx.Graph()
    env: dict[fx.Node, fx.Node] = {}
    for n in gm.graph.nodes:
        if n.op == "output":
            break
        env[n] = g.node_copy(n, lambda a: env[a])
        if n is node:
            break
    g.output(env[node])
    sub = fx.GraphModule(gm, g)
    sub.graph.eliminate_dead_code()
    sub.recompile()
    return sub


def split_at(module: nn.Module, key: str) -> tuple[fx.GraphModule, fx.GraphModule] | None:
    """The network cut at layer call ``key``: ``head(x) -> (layer output, values)`` and
    ``tail(act, *values) -> output``, where ``values`` are what the rest of the network needs from before the
    cut (a skip connection's input). Both share the model's layers; in-place ops are made out of place.

    Returns:
        None when the model does not trace.

    Raises:
        CutError: the call never happens, or the output does not depend on it.

    Examples::

        >>> head, tail = split_at(resnet, "layer3.1.conv2")
        >>> a, vals = head(x); torch.equal(tail(a, *vals), resnet(x))
        True
    """
    graph0 = trace(module)
    if graph0 is None:
        return None
    graph = copy.deepcopy(graph0)
    out_of_place(graph)
    cut = find_call(graph, key)
    if cut is None:
        raise CutError(f"layer call {key!r} never happens in a forward pass of this model")
    after, order = {cut}, list(graph.nodes)
    for node in order[order.index(cut) + 1:]:
        if node.op != "get_attr" and any(i in after for i in node.all_input_nodes):
            after.add(node)
    output = next(n for n in order if n.op == "output")
    needed = [n for n in order if n not in after and n.op not in ("get_attr", "output")
              and any(n in u.all_input_nodes for u in after if u is not cut)]
    tail = fx.Graph()
    env = {cut: tail.placeholder("act")}
    for i, n in enumerate(needed):
        env[n] = tail.placeholder(f"v{i}")

    def arg(n):
        if n not in env:  # a constant of the model (get_attr)
            env[n] = tail.node_copy(n, arg)
        return env[n]

    for node in order:
        if node in after and node is not cut:
            env[node] = tail.node_copy(node, arg)
    if output not in env:
        raise CutError(f"the model's output does not depend on {key!r}")
    head = copy.deepcopy(graph)
    hnodes = {n.name: n for n in head.nodes}
    head.erase_node(next(n for n in head.nodes if n.op == "output"))
    head.output((hnodes[cut.name], tuple(hnodes[n.name] for n in needed)))
    head_gm = fx.GraphModule(module, head)
    head_gm.graph.eliminate_dead_code()
    head_gm.recompile()
    return head_gm, fx.GraphModule(module, tail)


__all__ = ["TRACE_LOCK", "Tracer", "trace", "traces", "out_of_place", "split_key", "call_key", "shape_prop",
           "CutError", "find_call", "head_until", "split_at"]
