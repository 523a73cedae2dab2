"""The network at a glance: the executed graph of a model, from its torch.fx trace.

One trace per model (the capture engine's, :func:`cnnviz.core.graph.trace`) gives every
executed operation; one shape pass on a zero input gives every output shape. From that:

* :func:`network_graph`: nodes (layer calls named by the capture engine's rule, ``name`` /
  ``name#2``; functional ops such as the residual ``add`` or Inception's ``cat`` by their fx
  name), edges, the containers each node sits in, residual additions and branch
  concatenations identified, and how to read each node's output from one capture pass.
* :func:`graph_view`: the same graph with blocks collapsed (ResNet's ``layer1`` ... ``layer4``,
  Inception modules, MobileNet's inverted residuals) and batch norms / activations folded
  into the layer before, laid out left to right in layers. Computed once per model and view,
  and cached.
* :func:`node_values`: one forward pass that records every node of a view.

A model that torch.fx cannot trace raises :class:`GraphError`; the layer list of
:meth:`cnnviz.core.model.ModelHandle.layers` (a real forward pass with hooks) is the fallback.

Examples::

    >>> import cnnviz
    >>> m = cnnviz.load_model("resnet18", untrained=True)
    >>> g = network_graph(m)
    >>> len(g.residual_adds()), g.nodes["layer1.0.conv1"].shape
    (8, (64, 56, 56))
    >>> v = graph_view(m, detail="stages")
    >>> [n.id for n in v.nodes][:6]
    ['x', 'conv1', 'bn1', 'relu', 'maxpool', 'layer1']
"""
from __future__ import annotations

import copy
import operator
import threading
import weakref
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import torch
from torch import fx, nn

from cnnviz.core.capture import capture
from cnnviz.core.graph import call_key, shape_prop, trace
from cnnviz.errors import CnnvizError


class GraphError(CnnvizError):
    """A model whose graph cannot be drawn (torch.fx cannot trace it)."""


DETAILS = ("layers", "blocks", "stages")
DETAIL_TITLES = {"layers": "every layer", "blocks": "blocks collapsed", "stages": "stages collapsed"}
_ADDS = {operator.add, operator.iadd, torch.add}
_CATS = {torch.cat, torch.concat, torch.concatenate}
_PLAIN = (nn.Sequential, nn.ModuleList, nn.ModuleDict)
_FOLDABLE = (nn.modules.batchnorm._BatchNorm, nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.ELU, nn.SELU, nn.GELU, nn.SiLU,
             nn.Hardswish, nn.Hardsigmoid, nn.Sigmoid, nn.Tanh, nn.Mish, nn.Dropout, nn.Dropout2d, nn.Identity)
_FOLDABLE_FUNCS = {"relu", "relu_", "relu6", "hardswish", "hardsigmoid", "silu", "sigmoid", "tanh", "gelu", "dropout",
                   "leaky_relu", "elu"}


@dataclass(frozen=True)
class GraphNode:
    """One executed operation (or, in a view, a collapsed block).

    Attributes:
        id: the layer call key (``"layer1.0.relu#2"``) for a module call, the fx name (``"add_3"``) for a
            function, ``"x"`` for the input, the container name (``"layer1"``) for a collapsed block.
        op: what it computes: the module class (``"Conv2d"``), the function (``"add"``, ``"cat"``), or the
            block's class (``"BasicBlock"``).
        kind: ``"input"``, ``"module"``, ``"function"``, ``"method"`` or ``"group"``.
        module: the qualified module name of a module call (or of the block), else None.
        shape: output shape without the batch dimension (None for non-tensor outputs).
        inputs: ids of the nodes it reads.
        containers: the modules it runs inside, outermost first (``("layer1", "layer1.0")``).
        merge: ``"residual"`` for an addition of a branch and a skip, ``"concat"`` for a concatenation of
            branches, else None.
        read: how one capture pass records its output: ``("out", key)``, ``("in", key)`` (the input of the
            layer call ``key``), ``("x", "")`` for the input, or None.
        detail: short facts (kernel, stride, groups) for the label.
        members: for a view node, the graph nodes it stands for (itself, folded ops, or a block's nodes).
    """

    id: str
    op: str
    kind: str
    module: str | None
    shape: tuple[int, ...] | None
    inputs: tuple[str, ...]
    containers: tuple[str, ...] = ()
    merge: str | None = None
    read: tuple[str, str] | None = None
    detail: str = ""
    members: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        """Operation and output shape, e.g. ``"Conv2d 3×3/2"`` and ``"64×56×56"`` joined by a line break."""
        shape = "×".join(str(s) for s in self.shape) if self.shape else ""
        head = self.op + (f" {self.detail}" if self.detail else "")
        return f"{head}\n{shape}" if shape else head


@dataclass
class NetworkGraph:
    """The executed graph of one model (see :func:`network_graph`)."""

    nodes: dict[str, GraphNode]
    edges: list[tuple[str, str]]
    blocks: dict[str, str]  # collapsible container -> its class name, outermost first
    stages: list[str]  # containers of several blocks (ResNet's layer1..layer4)
    fx_names: dict[str, str] = field(default_factory=dict)  # node id -> fx node name

    def residual_adds(self) -> list[str]:
        """Ids of the additions that join a branch with a skip connection."""
        return [n.id for n in self.nodes.values() if n.merge == "residual"]

    def concats(self) -> list[str]:
        """Ids of the concatenations that join parallel branches (Inception modules)."""
        return [n.id for n in self.nodes.values() if n.merge == "concat"]

    def consumers(self, node_id: str) -> list[str]:
        return [d for s, d in self.edges if s == node_id]


# ============================================================== extraction
def _shape_pass(module: nn.Module, graph: fx.Graph, input_size: Sequence[int], device: torch.device) -> dict:
    """Every node's output shape (batch left out) for one input of ``input_size`` (:func:`graph.shape_prop`:
    fake tensors where every op has a fake kernel, else one real forward pass on zeros)."""
    gm = fx.GraphModule(module, copy.deepcopy(graph))
    shape_prop(gm, torch.zeros(1, *input_size, device=device))
    shapes: dict[str, object] = {}
    for n in gm.graph.nodes:
        out = n.meta.get("val")
        if isinstance(out, torch.Tensor):
            shapes[n.name] = tuple(int(s) for s in out.shape[1:])
        elif isinstance(out, (tuple, list)) and out and all(isinstance(o, torch.Tensor) for o in out):
            shapes[n.name] = "tuple"
    return shapes


def _containers(node: fx.Node, own: str | None) -> tuple[str, ...]:
    stack = node.meta.get("nn_module_stack") or {}
    names = []
    for key, val in stack.items():
        name = val[0] if isinstance(val, tuple) and isinstance(val[0], str) else str(key).split("@")[0]
        if name and name != own and name not in names:
            names.append(name)
    return tuple(names)


def _detail(mod: nn.Module) -> str:
    if isinstance(mod, nn.Conv2d):
        k, s, d = mod.kernel_size, mod.stride, mod.dilation
        out = f"{k[0]}×{k[1]}" + (f"/{s[0]}" if s[0] > 1 else "") + (f" d{d[0]}" if d[0] > 1 else "")
        if mod.groups > 1:
            out += " dw" if mod.groups == mod.in_channels else f" g{mod.groups}"
        return out
    if isinstance(mod, (nn.MaxPool2d, nn.AvgPool2d)):
        k = mod.kernel_size if isinstance(mod.kernel_size, int) else mod.kernel_size[0]
        return f"{k}×{k}"
    return ""


def _extract(module: nn.Module, input_size: Sequence[int], device: torch.device) -> NetworkGraph:
    graph = trace(module)
    if graph is None:
        raise GraphError(f"torch.fx cannot trace {type(module).__name__} (its forward() has Python control flow "
                         "that depends on tensor values, or an operation fx does not support), so its graph is "
                         "unknown. The layer list below comes from a real forward pass instead.")
    try:
        shapes = _shape_pass(module, graph, input_size, device)
    except RuntimeError as e:
        raise GraphError(f"a {tuple(input_size)} input cannot pass through {type(module).__name__}: "
                         f"{str(e).splitlines()[0]}") from None
    mods = dict(module.named_modules())
    counts: dict[str, int] = {}
    ids: dict[fx.Node, str] = {}
    raw: list[tuple[fx.Node, str]] = []
    for node in graph.nodes:
        if node.op in ("output", "get_attr") or node.name not in shapes:
            continue
        if node.op == "call_module":
            counts[node.target] = counts.get(node.target, 0) + 1
            nid = call_key(node.target, counts[node.target])
        elif node.op == "placeholder":
            if any(n.op == "placeholder" for n, _ in raw):
                continue  # further inputs (rare) are constants of the trace
            nid = "x"
        else:
            nid = node.name if node.name not in mods else f"{node.name}()"
        ids[node] = nid
        raw.append((node, nid))
    # how one capture pass reads each node: a layer's output, or the input of the layer call that consumes it
    read_in: dict[fx.Node, str] = {}
    for node, nid in raw:
        if node.op == "call_module" and node.args and isinstance(node.args[0], fx.Node):
            read_in.setdefault(node.args[0], nid)
    ancestors: dict[fx.Node, frozenset[str]] = {}  # layer calls upstream of each node (for branch detection)
    nodes: dict[str, GraphNode] = {}
    edges: list[tuple[str, str]] = []
    fx_names: dict[str, str] = {}
    for node, nid in raw:
        ins = [a for a in node.all_input_nodes if a in ids]
        up = frozenset().union(*(ancestors.get(a, frozenset()) for a in ins)) if ins else frozenset()
        ancestors[node] = up | {nid} if node.op == "call_module" else up
        mod = mods.get(node.target) if node.op == "call_module" else None
        if node.op == "placeholder":
            op, kind, read = "input", "input", ("x", "")
        elif mod is not None:
            op, kind, read = type(mod).__name__, "module", ("out", nid)
        else:
            op = node.target if node.op == "call_method" else getattr(node.target, "__name__", str(node.target))
            op = {"iadd": "add", "add_": "add", "concat": "cat", "concatenate": "cat"}.get(op, op)
            kind = "method" if node.op == "call_method" else "function"
            read = ("in", read_in[node]) if node in read_in else None
        merge = None
        tensor_ins = [a for a in ins if isinstance(shapes.get(a.name), tuple)]
        is_add = (node.op == "call_function" and node.target in _ADDS) or (node.op == "call_method"
                                                                         and node.target in ("add", "add_"))
        is_cat = node.op == "call_function" and node.target in _CATS
        if (is_add or is_cat) and len(tensor_ins) >= 2:
            sets = [ancestors[a] for a in tensor_ins]
            common = frozenset.intersection(*sets)
            own = sum(1 for s in sets if s - common)  # paths with a layer of their own since they forked
            if is_add and own >= 1:
                merge = "residual"
            elif is_cat and own >= 2:
                merge = "concat"
        shape = shapes[node.name] if isinstance(shapes[node.name], tuple) else None
        nodes[nid] = GraphNode(nid, op, kind, node.target if mod is not None else None, shape,
                               tuple(ids[a] for a in ins), _containers(node, node.target if mod is not None else None),
                               merge, read, _detail(mod) if mod is not None else "")
        edges.extend((ids[a], nid) for a in ins)
        fx_names[nid] = node.name
    blocks, stages = _collapsible(mods, nodes)
    return NetworkGraph(nodes, edges, blocks, stages, fx_names)


def _collapsible(mods: dict[str, nn.Module], nodes: dict[str, GraphNode]) -> tuple[dict[str, str], list[str]]:
    """Blocks (containers of a class of their own: BasicBlock, Inception, ...) and stages (containers of blocks)."""
    size: dict[str, int] = {}
    for n in nodes.values():
        for c in n.containers:
            size[c] = size.get(c, 0) + 1
    order = list(dict.fromkeys(c for n in nodes.values() for c in n.containers))
    blocks = {c: type(mods[c]).__name__ for c in order
              if c in mods and type(mods[c]) not in _PLAIN and size[c] >= 2}
    total = max(1, len(nodes))
    stages = [c for c in order if c in mods and c not in blocks and not any(c.startswith(b + ".") for b in blocks)
              and sum(1 for b in blocks if b.rsplit(".", 1)[0] == c) >= 2 and size[c] < total / 2]
    return blocks, stages


_graphs: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_views: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def network_graph(m) -> NetworkGraph:
    """The executed graph of a model handle (traced once and cached per module).

    Args:
        m: a :class:`cnnviz.core.model.ModelHandle` (its ``input_size`` gives the shapes).

    Raises:
        GraphError: torch.fx cannot trace the model (show ``m.layers()`` instead).

    Examples::

        >>> g = network_graph(cnnviz.load_model("googlenet", untrained=True))
        >>> len(g.concats())
        9
    """
    with _lock:
        hit = _graphs.get(m.module)
    if hit is not None:
        return hit
    g = _extract(m.module, m.input_size, m.device)
    with _lock:
        _graphs[m.module] = g
    return g


# ============================================================== views and layout
@dataclass
class GraphView:
    """What the overview draws: nodes (some standing for blocks), edges, and a position per node.

    ``column[id]`` grows left to right along the longest path from the input; ``row[id]`` separates
    parallel branches (0 is the main path). ``frames`` are the open blocks drawn as outlines:
    ``(name, class, first column, last column, lowest row, highest row)``.
    """

    nodes: list[GraphNode]
    edges: list[tuple[str, str]]
    column: dict[str, int]
    row: dict[str, int]
    frames: list[tuple[str, str, int, int, int, int]]
    detail: str

    def node(self, node_id: str) -> GraphNode:
        for n in self.nodes:
            if n.id == node_id:
                return n
        raise GraphError(f"node {node_id!r} is not in this view. Hint: open its block, or pick one of "
                         f"{[n.id for n in self.nodes][:8]}...")

    def owner(self, graph_id: str) -> str | None:
        """The view node that shows graph node ``graph_id`` (itself, a folding layer, or its block)."""
        for n in self.nodes:
            if graph_id in n.members:
                return n.id
        return None

    @property
    def width(self) -> int:
        return max(self.column.values(), default=0) + 1

    @property
    def height(self) -> int:
        return max(self.row.values(), default=0) + 1


def default_view(g: NetworkGraph) -> tuple[str, bool, list[str]]:
    """The view a page opens with: ``(detail, fold, open blocks)``.

    Small graphs show every layer (LeNet-5: conv and ReLU apart); larger ones fold batch norms and
    activations into their layer, and collapse blocks (or ResNet's stages) when even that is over 16
    columns wide, a width that stays legible on a projector. Then the first block with a residual
    addition or a branch concatenation is open, so one skip or one set of branches shows.
    """
    if len(g.nodes) <= 24:
        return "layers", False, []
    column, _ = _layout(list(g.nodes), {i: list(n.inputs) for i, n in g.nodes.items()})
    folded = _fold_map(g, set())
    width = len({column[i] for i in g.nodes if i not in folded})  # columns left once folded (an estimate)
    if width <= 16 or not g.blocks:
        return "layers", True, []
    merge = next((n for n in g.nodes.values() if n.merge), None)
    first = next((c for c in reversed(merge.containers) if c in g.blocks), None) if merge else None
    detail = "stages" if g.stages and width > 40 else "blocks"
    opened = [first] if first else []
    if detail == "stages" and first and first.rsplit(".", 1)[0] in g.stages:
        opened.insert(0, first.rsplit(".", 1)[0])
    return detail, True, opened


def _collapse_map(g: NetworkGraph, detail: str, open_groups: Iterable[str]) -> dict[str, str]:
    """Graph node id -> the block it is collapsed into (absent: shown itself)."""
    opened = set(open_groups)
    if detail == "layers":
        return {}
    units = set(g.blocks) | (set(g.stages) if detail == "stages" else set())
    out = {}
    for n in g.nodes.values():
        for c in n.containers:  # outermost first: the first closed block or stage takes the node
            if c in units and c not in opened:
                out[n.id] = c
                break
    return out


def _fold_map(g: NetworkGraph, skip: set[str]) -> dict[str, str]:
    """Batch norms, activations and dropouts folded into the layer that feeds only them."""
    out: dict[str, str] = {}
    for n in g.nodes.values():
        if n.id in skip or len(n.inputs) != 1:
            continue
        src = n.inputs[0]
        if src in skip or src == "x" or len(g.consumers(src)) != 1:
            continue
        foldable = (n.kind == "module" and n.op in _FOLDABLE_NAMES) or (n.kind in ("function", "method")
                                                                      and n.op in _FOLDABLE_FUNCS)
        if foldable and g.nodes[src].shape == n.shape:
            out[n.id] = out.get(src, src)
    return out


_FOLDABLE_NAMES = {c.__name__ for c in _FOLDABLE} | {"BatchNorm2d", "BatchNorm1d"}


def _layout(ids: list[str], inputs: dict[str, list[str]]) -> tuple[dict[str, int], dict[str, int]]:
    """Left-to-right layers (longest path) and rows: a node keeps its first input's row when it is free."""
    column: dict[str, int] = {}
    row: dict[str, int] = {}
    taken: set[tuple[int, int]] = set()
    for i in ids:
        ins = [p for p in inputs[i] if p in column]
        column[i] = 1 + max((column[p] for p in ins), default=-1)
    # a column is free for a row only if no longer edge passes through it on that row
    for i in ids:
        ins = [p for p in inputs[i] if p in row]
        want = min((row[p] for p in ins), default=0)
        c = column[i]
        for step in range(0, 64):
            r = want + step
            if (c, r) not in taken:
                break
        row[i] = r
        taken.add((c, r))
        for p in ins:  # keep the straight run of an edge free of other nodes
            if row[p] == r:
                for cc in range(column[p] + 1, c):
                    taken.add((cc, r))
    return column, row


def graph_view(m, detail: str | None = None, open_groups: Sequence[str] = (), fold: bool = False) -> GraphView:
    """The graph as the overview draws it, laid out once per (model, detail, open blocks, fold) and cached.

    Args:
        m: the model handle.
        detail: ``"layers"`` (every layer), ``"blocks"`` (blocks such as a ResNet BasicBlock or an Inception
            module as one node each) or ``"stages"`` (ResNet's ``layer1`` ... ``layer4`` as one node each);
            default :func:`default_detail`.
        open_groups: blocks or stages shown open (their layers drawn, inside an outline).
        fold: fold batch norms, activations and dropouts into the layer before (``"Conv2d+ReLU"``).

    Examples::

        >>> v = graph_view(m, "stages", open_groups=["layer2"])
        >>> "layer2.0.conv1" in [n.id for n in v.nodes], "layer3" in [n.id for n in v.nodes]
        (True, True)
    """
    g = network_graph(m)
    detail = detail or default_view(g)[0]
    if detail not in DETAILS:
        raise GraphError(f"detail {detail!r}: expected one of {DETAILS}")
    key = (detail, tuple(sorted(open_groups)), fold)
    with _lock:
        hit = _views.get(m.module, {}).get(key)
    if hit is not None:
        return hit
    coll = _collapse_map(g, detail, open_groups)
    folded = _fold_map(g, set(coll)) if fold else {}
    rep = {i: coll.get(i, folded.get(i, i)) for i in g.nodes}
    members: dict[str, list[str]] = {}
    for i in g.nodes:
        members.setdefault(rep[i], []).append(i)
    view_nodes: list[GraphNode] = []
    inputs: dict[str, list[str]] = {}
    for vid, mem in members.items():
        ins = list(dict.fromkeys(rep[p] for i in mem for p in g.nodes[i].inputs if rep[p] != vid))
        inputs[vid] = ins
        if vid in g.nodes:
            base = g.nodes[vid]
            tail = g.nodes[mem[-1]]
            ops = [base.op] + [g.nodes[i].op.replace("BatchNorm2d", "BN") for i in mem[1:]]
            view_nodes.append(GraphNode(vid, "+".join(ops), base.kind, base.module, tail.shape, tuple(ins),
                                        base.containers, base.merge, tail.read, base.detail, tuple(mem)))
        else:  # a collapsed block: its output is its last node's
            last = g.nodes[mem[-1]]
            merges = [g.nodes[i].merge for i in mem if g.nodes[i].merge]
            note = f"{len(mem)} ops" + (f", {merges.count('residual')} add" if "residual" in merges else "") \
                + (f", {merges.count('concat')} cat" if "concat" in merges else "")
            cls = g.blocks.get(vid) or "Sequential"
            outer = g.nodes[mem[0]].containers
            outer = outer[:outer.index(vid)] if vid in outer else ()
            view_nodes.append(GraphNode(vid, cls, "group", vid, last.shape, tuple(ins), outer, None, last.read, note,
                                        tuple(mem)))
    order = list(members)
    column, row = _layout(order, inputs)
    edges = list(dict.fromkeys((s, d) for d in order for s in inputs[d]))
    frames = []
    shown_blocks = [b for b in g.blocks if b not in members and any(b in g.nodes[i].containers for i in rep)]
    for b in shown_blocks:
        inside = [v.id for v in view_nodes if v.kind != "group" and b in v.containers]
        if len(inside) >= 2:
            cs, rs = [column[i] for i in inside], [row[i] for i in inside]
            frames.append((b, g.blocks[b], min(cs), max(cs), min(rs), max(rs)))
    view = GraphView(view_nodes, edges, column, row, frames, detail)
    with _lock:
        per = _views.setdefault(m.module, {})
        if len(per) > 32:
            per.clear()
        per[key] = view
    return view


# ============================================================== values for the overview
def node_values(m, x: torch.Tensor, view: GraphView) -> dict[str, torch.Tensor]:
    """Every readable node output of a view for one image, from one capture pass (first batch item).

    Args:
        m: the model handle.
        x: the preprocessed batch ``[1, C, H, W]`` on the model's device.
        view: from :func:`graph_view`.

    Returns:
        ``{view node id: tensor}`` without the batch dimension, on the model's device; nodes whose
        output no capture can record (a function feeding only other functions) are absent.

    Examples::

        >>> vals = node_values(m, m.preprocess(img), graph_view(m))
        >>> vals["layer1"].shape
        torch.Size([64, 56, 56])
    """
    outs = sorted({n.read[1] for n in view.nodes if n.read and n.read[0] == "out"})
    ins = sorted({n.read[1] for n in view.nodes if n.read and n.read[0] == "in"})
    c = capture(m.module, x, outs, inputs=ins)
    got: dict[str, torch.Tensor] = {}
    for n in view.nodes:
        if n.read is None:
            continue
        where, key = n.read
        t = x if where == "x" else (c.outputs if where == "out" else c.inputs).get(key)
        if isinstance(t, torch.Tensor):
            got[n.id] = t[0]
    return got


def strongest_channels(value: torch.Tensor, k: int = 3) -> list[int]:
    """The ``k`` channels of a ``[C, H, W]`` map with the largest mean activation (strongest first).

    Examples::

        >>> strongest_channels(torch.arange(3.).view(3, 1, 1).expand(3, 2, 2), 2)
        [2, 1]
    """
    if value.ndim != 3:
        return []
    means = value.float().mean((1, 2))
    return means.topk(min(k, means.numel())).indices.tolist()


def unit_layers(g: NetworkGraph) -> list[str]:
    """Ids of the nodes whose units the one-unit view can compute (Conv2d and Linear calls)."""
    return [n.id for n in g.nodes.values() if n.kind == "module" and n.op in ("Conv2d", "Linear")]


__all__ = ["GraphError", "GraphNode", "NetworkGraph", "GraphView", "network_graph", "graph_view", "node_values",
           "strongest_channels", "default_view", "unit_layers", "DETAILS", "DETAIL_TITLES"]
