"""The shared sidebar: model picker, device, the current input image; builds the page context."""
from __future__ import annotations

import functools
import hashlib
import http.client
import logging
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

import numpy as np
import streamlit as st
import torch
from PIL import Image

from cnnviz.core import zoo as zoo
from cnnviz.core.device import apply_thread_policy
from cnnviz.core.images import ACCEPTED_TYPES, MAX_UPLOAD_BYTES, ImageError, check_upload_size, load_image, mnist_style
from cnnviz.core.model import ModelHandle
from cnnviz.core.paths import SAMPLES_DIR
from cnnviz.errors import CnnvizError, foreign
from cnnviz.figures.common import enlarge
from cnnviz.ui import own_model, session_model, state
from cnnviz.ui.resources import shared_model, shared_uploaded_model

log = logging.getLogger("cnnviz.ui")
_CTX = "cnnviz_ctx"
UPLOAD_MODEL = "upload"


@dataclass
class Context:
    """What every page works on: the shared model and the current input image."""

    model: ModelHandle
    image: Image.Image
    image_label: str
    image_key: str  # content hash, for caches

    @functools.cached_property
    def _input(self) -> torch.Tensor:
        return self.model.preprocess(self.image)

    def input(self) -> torch.Tensor:
        """The image as the model takes it (``model.preprocess``: ``[1, C, H, W]`` on its device), prepared once
        per context (a page run and the view reruns that follow it) and handed out as a copy the caller may
        change: every view of a page asked for it on every run (10 ms each for a 224-px photo)."""
        return self._input.clone()

    def seen(self) -> np.ndarray:
        """What the model sees: the prepared image back as a uint8 picture (``model.deprocess``)."""
        return self.model.deprocess(self._input)


def current() -> Context:
    """The context the sidebar built in this run (pages call this); builds it if the page runs alone."""
    if _CTX not in st.session_state or st.session_state.get("_ctx_run") != st.session_state.get(state.USED_RUN):
        return sidebar()
    return st.session_state[_CTX]


def sample_names(model: ModelHandle | None = None) -> list[str]:
    """Bundled sample images, the ones that suit the model first."""
    names = sorted(p.stem for p in SAMPLES_DIR.iterdir() if p.suffix.lower() in (".png", ".jpg", ".jpeg"))
    dataset = model.dataset if model is not None else None
    first = {"mnist": "digit-", "fashion-mnist": "fashion-"}.get(dataset, "photo-")
    return [n for n in names if n.startswith(first)] + [n for n in names if not n.startswith(first)]


def sample_path(name: str) -> Path:
    for ext in (".png", ".jpg", ".jpeg"):
        p = SAMPLES_DIR / f"{name}{ext}"
        if p.exists():
            return p
    raise FileNotFoundError(name)


def _model_label(name: str) -> str:
    if name == session_model.SESSION_MODEL:
        return session_model.label() or "model trained in this session"
    if name == UPLOAD_MODEL:
        return "Your own weights (upload)…"
    if name == own_model.ONNX_MODEL:
        return "Your own model (ONNX)…"
    if name == own_model.SHOWN_MODEL:
        return own_model.shown_label() or "your model"
    if name in zoo.BUNDLED:
        card = zoo.bundled_card(name)
        acc = card.get("test_accuracy")
        return f"{zoo.BUNDLED[name]['title']}" + (f" — {acc:.1%}" if acc else "")
    ok = zoo.weight_status(name).available
    return f"{zoo.ZOO[name]['title']} · " + ("ImageNet" if ok else "untrained (no weights)")


def _model_picker() -> ModelHandle:
    """The model chosen under Model. One that fails to load is reported under the choice (a CnnvizError's own
    message; for anything else a short line, with the traceback in the server log) and the pages go on with
    the default model (or the previous ONNX model), saying which: a model is never replaced silently."""
    sb = st.sidebar
    shown = own_model.shown_label() is not None  # started by cnnviz.show(): that model first, and the default
    names = ([own_model.SHOWN_MODEL] if shown else []) + zoo.model_names() + [UPLOAD_MODEL, own_model.ONNX_MODEL]
    default = own_model.SHOWN_MODEL if shown else zoo.DEFAULT_MODEL
    names += session_model.options()  # the Training page's "Use this model on every page"
    name = state.select("Model", "model", names, default, format_func=_model_label, container=sb)
    try:
        handle = _chosen_model(name, sb)
    except Exception as e:  # a model that fails to load must not take the app down: reported, the default used
        if name == zoo.DEFAULT_MODEL:
            raise  # nothing to fall back to
        return _instead_of(name, e, sb)
    if handle is None:  # an upload choice with no file yet
        default = shared_model(zoo.DEFAULT_MODEL)
        what = "an ONNX file" if name == own_model.ONNX_MODEL else "a weight file"
        sb.info(f"Until {what} loads, the pages use **{default.title}**, the default model.")
        return default
    if name == own_model.ONNX_MODEL:
        st.session_state["_onnx_last"] = handle
    return handle


def _chosen_model(name: str, sb) -> ModelHandle | None:
    """The model ``name`` stands for, with its own controls; None while an upload choice has no file yet.
    Raises what loading raises."""
    if name == own_model.SHOWN_MODEL:
        return own_model.shown()
    if name == own_model.ONNX_MODEL:
        return own_model.onnx_picker(sb)
    if name == session_model.SESSION_MODEL:
        return session_model.picked(sb)
    if name == UPLOAD_MODEL:
        return _uploaded_model(sb)
    untrained = state.toggle("Untrained (random weights)", "untrained", False, container=sb,
                             help="The same architecture with seeded random weights: compare what training changed.")
    if name in zoo.ZOO and not untrained:
        _weights_panel(name, sb)
    return shared_model(name, untrained)


def _weights_panel(name: str, sb) -> None:
    """Where a zoo model's missing ImageNet weights go, and a button to download them (never silently)."""
    status = zoo.weight_status(name)
    if status.available:
        return
    with sb.expander("ImageNet weights missing", icon=":material/download:"):
        st.markdown(f"Put `{Path(status.url).name}` at `{status.path}` and reload, or download it now "
                    f"(needs network access).\n\nURL: {status.url}")
        if st.button("Download weights", key="dl_weights"):
            bar = st.progress(0.0, text="Downloading…")

            def progress(done: int, total: int) -> None:
                bar.progress(min(1.0, done / total) if total else 0.0, text=f"{done / 2**20:.0f} MiB")

            try:
                zoo.download_weights(name, progress)
            # no network, an HTTP error, a cut connection, a disk full: said, with what to do instead
            except (OSError, http.client.HTTPException, ValueError) as e:
                log.warning("downloading the weights of %s failed: %s", name, e)
                st.error(f"Download failed: {e}. Copy the file by hand to the path above.")
                return
            shared_model.clear()
            st.rerun()


def _what(name: str) -> str:
    """The chosen model as a failure message names it: the file(s) given, else its label."""
    if name == UPLOAD_MODEL:
        return getattr(st.session_state.get("upload_model"), "name", None) or "your weights"
    if name == own_model.ONNX_MODEL:
        return ", ".join(u.name for u in st.session_state.get("onnx_file") or ()) or "your ONNX model"
    if name in zoo.BUNDLED or name in zoo.ZOO:
        return (zoo.BUNDLED.get(name) or zoo.ZOO[name])["title"]
    return _model_label(name)


def _instead_of(name: str, e: Exception, sb) -> ModelHandle:
    """Report that ``name`` did not load, and the model the pages use instead."""
    what = _what(name)
    if isinstance(e, CnnvizError):
        reason = f"Could not load **{what}**: {e}"
    else:  # not a domain error (a bug, memory): its traceback in the server log, a short line on the page
        log.error("loading the model %s (%s) failed", name, what, exc_info=e)
        reason = f"Could not load **{what}** ({type(e).__name__}: {str(e)[:200]}); the details are in the server log."
    previous = st.session_state.get("_onnx_last") if name == own_model.ONNX_MODEL else None
    if previous is not None:  # a bad ONNX file keeps the ONNX model that loaded before it
        sb.error(f"{reason}\n\nThe pages keep using **{previous.title}**.", icon=":material/error:")
        return previous
    default = shared_model(zoo.DEFAULT_MODEL)
    sb.error(f"{reason}\n\nThe pages use **{default.title}**, the default model, instead.", icon=":material/error:")
    return default


def _uploaded_model(sb) -> ModelHandle | None:
    """Your own weights for a known architecture (or a Training-page download, which says its own); None until
    a file is given. Raises what loading raises."""
    archs = list(zoo.BUNDLED) + list(zoo.ZOO)
    arch = sb.selectbox("Architecture of your weights", archs, key="upload_arch")
    n = sb.number_input("Number of classes", 1, 100_000, 10 if arch in zoo.BUNDLED else 1000, key="upload_classes")
    up = sb.file_uploader("Upload model weights (.safetensors or state_dict .pt)",
                          type=["safetensors", "pt", "pth", "bin"], key="upload_model")
    if up is None:
        return None
    if session_model.has_card(up.getvalue()):  # downloaded from the Training page: its card says how to build it
        return session_model.load_upload(up.getvalue(), up.name, sb)
    return shared_uploaded_model(arch, int(n), up.getvalue(), up.name)


SOURCES = {"sample": "Sample", "upload": "Upload", "camera": "Camera", "draw": "Draw"}


def _keep(img: Image.Image, label: str, data: bytes) -> tuple[Image.Image, str, str]:
    """Make ``img`` the session's current image (shared by every page)."""
    st.session_state["_last_image"] = (img, label, hashlib.sha1(data).hexdigest()[:16])
    return st.session_state["_last_image"]


def _sample_image(name: str) -> tuple[Image.Image, str, str]:
    data = sample_path(name).read_bytes()
    return _keep(load_image(data), f"sample {name}", data)


def _decode_upload(up, sb) -> None:
    """Decode an uploaded file once (by file id); a bad file shows why and keeps the previous image."""
    file_id = getattr(up, "file_id", None) or up.name
    if st.session_state.get("_upload_seen", (None,))[0] != file_id:
        try:
            check_upload_size(up.size, up.name)
            data = up.getvalue()
            _keep(load_image(data), up.name or "camera", data)
            err = None
        except ImageError as e:
            err = str(e)
        st.session_state["_upload_seen"] = (file_id, err)
    err = st.session_state["_upload_seen"][1]
    if err:
        sb.error(f"**{up.name}** cannot be used: {err.rstrip('.')}. The previous image is kept.",
                 icon=":material/broken_image:")


def _drawing(model: ModelHandle, sb) -> None:
    """A canvas for the 28x28 models: white strokes on black, turned into an MNIST-style image."""
    try:
        from streamlit_drawable_canvas import st_canvas
    except (ImportError, AttributeError) as e:  # component missing, or written for another Streamlit
        sb.warning(f"The drawing canvas is unavailable ({type(e).__name__}: {e}). Install streamlit-drawable-canvas "
                   "or pick another source.")
        return
    what = "a digit" if model.dataset == "mnist" else "a piece of clothing"
    n = st.session_state.setdefault("_canvas_n", 0)
    sb.write("")  # room for the canvas's hover toolbar, which floats above it
    with sb:
        res = st_canvas(stroke_width=18, stroke_color="#FFFFFF", background_color="#000000", height=224, width=224,
                        drawing_mode="freedraw", return_image_data=True, key=f"canvas_{n}")
    sb.caption(f"Draw {what} with the mouse: white on black, as in the training data. "
               "It is scaled and centred the way the training images were.")
    if sb.button("Clear drawing", icon=":material/ink_eraser:", key="canvas_clear"):
        st.session_state["_canvas_n"] = n + 1
        st.session_state.pop("_drawn", None)
        st.rerun()
    try:
        arr = res.image_data
    except (ValueError, OSError):  # a drawing the browser sent damaged (data URL, PNG): treated as none yet
        arr = None
    if arr is None:
        return
    arr = np.asarray(arr)
    ink = arr[..., 3] if arr.ndim == 3 and arr.shape[2] == 4 and arr[..., 3].min() < 255 else arr[..., :3].max(axis=-1)
    if ink.max() < 32:
        sb.info("The canvas is empty: draw something. Until then the previous image is used.")
        return
    img = mnist_style(arr, box=20 if model.dataset == "mnist" else 26)
    data = img.tobytes()
    if st.session_state.get("_drawn") != hashlib.sha1(data).hexdigest():
        st.session_state["_drawn"] = hashlib.sha1(data).hexdigest()
        _keep(img, "your drawing", data)


def _image_input(model: ModelHandle) -> tuple[Image.Image, str, str]:
    """The one image input: a sample, an upload, a webcam picture or (28x28 models) a drawing."""
    sb = st.sidebar
    sb.subheader("Input image")
    sources = [s for s in SOURCES if s != "draw" or model.input_size[1:] == (28, 28)]
    source = state.select("Source", "src", sources, "sample", container=sb, radio=True,
                          horizontal=True, format_func=SOURCES.get)
    names = sample_names(model)
    if source == "sample":
        default = names[0]
        family_changed = st.session_state.get("_sample_for") != model.dataset
        if family_changed and "qp:img" in st.session_state and "img" not in st.query_params:
            st.session_state["qp:img"] = default  # switching model family: pick a sample that suits it
        st.session_state["_sample_for"] = model.dataset
        name = state.select("Sample", "img", names, default, container=sb)
        return _sample_image(name)
    if source == "upload":
        kinds = ", ".join(t.upper() for t in ACCEPTED_TYPES if t not in ("jpeg", "tif"))
        mib = MAX_UPLOAD_BYTES // 2**20
        up = sb.file_uploader(f"Upload an image to analyse ({kinds}; up to {mib} MiB)", type=ACCEPTED_TYPES,
                              key="upload_image", max_upload_size=mib,
                              help="This is the input image for every page. To use your own model, pick "
                                   "'Your own weights (upload)' under Model instead.")
        if up is not None:
            _decode_upload(up, sb)
    elif source == "camera":
        up = sb.camera_input("Take a picture", key="camera_image")
        if up is not None:
            _decode_upload(up, sb)
    else:
        _drawing(model, sb)
    if "_last_image" not in st.session_state:
        return _sample_image(names[0])
    return st.session_state["_last_image"]


def sidebar() -> Context:
    """Draw the sidebar and store the page context; call once per run from app.py."""
    sb = st.sidebar
    try:  # the server-wide thread policy, applied once per process before the first model runs
        threads = apply_thread_policy().describe()
    except ValueError as e:  # a malformed CNNVIZ_THREADS / CNNVIZ_REPLICAS: say which, keep serving
        threads = f"thread policy not applied: {e}"
    model = _model_picker()
    sb.caption(f"Device: **{model.device_description}** · {threads}")
    if not model.trained:
        sb.warning("UNTRAINED weights", icon=":material/warning:")
    img, label, key = _image_input(model)
    try:  # a model that cannot take the image must not take the sidebar down: said, and logged
        with foreign(CnnvizError, "{why}; the details are in the server log"):
            seen = model.deprocess(model.preprocess(img))
        sb.image(enlarge(seen, 160), caption=f"What the model sees: {model.input_size[2]}x{model.input_size[1]}"
                 f"{' grayscale' if model.grayscale else ' RGB'} ({label})", width=160)
    except CnnvizError as e:
        sb.error(f"This image cannot be fed to {model.title}: {e}", icon=":material/broken_image:")
    ctx = Context(model, img, label, key)
    st.session_state[_CTX] = ctx
    st.session_state["_ctx_run"] = st.session_state.get(state.USED_RUN)
    return ctx


def view_url() -> str:
    """The absolute URL of the current view (page path + query string), or a relative one when the
    browser's address is unknown (e.g. under AppTest)."""
    qs = urlencode(st.query_params.to_dict())
    try:
        base = st.context.url or ""
    except (AttributeError, RuntimeError):  # a Streamlit without st.context.url, or no session (bare mode)
        base = ""
    if base and base.count("/") == 2:  # http://host:port -> http://host:port/
        base += "/"
    return (base or "") + (f"?{qs}" if qs else "") or "/"


LINK_JS = """<script>(function(){
  const box = document.getElementById('cnnviz-link'); if (!box || box.dataset.live) return; box.dataset.live = '1';
  const code = box.querySelector('code'), open = box.querySelector('a'), copy = box.querySelector('button');
  copy.onclick = function(){ navigator.clipboard && navigator.clipboard.writeText(code.textContent);
    copy.textContent = 'Copied'; setTimeout(function(){ copy.textContent = 'Copy'; }, 1200); };
  // a view reruns alone and changes the URL without redrawing the sidebar: follow the address bar
  setInterval(function(){ const u = window.location.href.split('#')[0];
    if (document.body.contains(box) && code.textContent !== u) { code.textContent = u; open.href = u; } }, 400);
})();</script>"""


def share_link(container=None) -> None:
    """The link that reproduces the current view: copy it or open it. It follows the address bar, so it
    stays right when a view reruns alone (a fragment rerun does not redraw the sidebar)."""
    import html

    url = view_url()
    sb = container if container is not None else st.sidebar
    e = html.escape(url, quote=True)
    sb.html(f"<div id='cnnviz-link' class='cnnviz-link'><p style='margin:0 0 .3rem 0'><b>Link to this view</b> · "
            f"<a href='{e}' target='_self'>open</a> · <button type='button' style='border:1px solid #ccc;"
            f"border-radius:.3rem;background:white;font-size:.8rem;cursor:pointer'>Copy</button></p>"
            f"<code style='display:block;white-space:pre-wrap;word-break:break-all;font-size:.75rem;padding:.4rem;"
            f"background:#f6f6f8;border-radius:.3rem'>{e}</code></div>" + LINK_JS, unsafe_allow_javascript=True)
    if not st.session_state.get("_last_image", (None, "sample"))[1].startswith("sample"):
        sb.caption("Uploaded, camera and drawn images are not part of links: the link opens with a sample image.")
