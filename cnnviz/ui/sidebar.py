"""The shared sidebar: model picker, device, the current input image; builds the page context."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import streamlit as st
from PIL import Image

from cnnviz import zoo
from cnnviz.images import ACCEPTED_TYPES, ImageError, MAX_UPLOAD_BYTES, load_image
from cnnviz.model import ModelFileError, ModelHandle
from cnnviz.ui import state
from cnnviz.ui.figures import enlarge
from cnnviz.ui.resources import shared_model, shared_uploaded_model

SAMPLES_DIR = Path(__file__).resolve().parents[2] / "assets" / "samples"
_CTX = "cnnviz_ctx"
UPLOAD_MODEL = "upload"


@dataclass
class Context:
    """What every page works on: the shared model and the current input image."""

    model: ModelHandle
    image: Image.Image
    image_label: str
    image_key: str  # content hash, for caches


def current() -> Context:
    """The context the sidebar built in this run (pages call this); builds it if the page runs alone."""
    if _CTX not in st.session_state or st.session_state.get("_ctx_run") != st.session_state.get(state._USED_RUN):
        return sidebar()
    return st.session_state[_CTX]


def sample_names(model: ModelHandle | None = None) -> list[str]:
    """Bundled sample images, the ones that suit the model first."""
    names = sorted(p.stem for p in SAMPLES_DIR.iterdir() if p.suffix.lower() in (".png", ".jpg", ".jpeg"))
    first = "digit-" if model is not None and model.dataset == "mnist" else "fashion-" if model is not None and model.dataset == "fashion-mnist" else "photo-"
    return [n for n in names if n.startswith(first)] + [n for n in names if not n.startswith(first)]


def sample_path(name: str) -> Path:
    for ext in (".png", ".jpg", ".jpeg"):
        p = SAMPLES_DIR / f"{name}{ext}"
        if p.exists():
            return p
    raise FileNotFoundError(name)


def _model_label(name: str) -> str:
    if name == UPLOAD_MODEL:
        return "Your own weights (upload)…"
    if name in zoo.BUNDLED:
        card = zoo.bundled_card(name)
        acc = card.get("test_accuracy")
        return f"{zoo.BUNDLED[name]['title']}" + (f" — {acc:.1%}" if acc else "")
    ok = zoo.weight_status(name).available
    return f"{zoo.ZOO[name]['title']} — ImageNet" + ("" if ok else " (weights missing: untrained)")


def _model_picker() -> ModelHandle:
    sb = st.sidebar
    names = zoo.model_names() + [UPLOAD_MODEL]
    name = state.select("Model", "model", names, zoo.DEFAULT_MODEL, format_func=_model_label, container=sb)
    if name == UPLOAD_MODEL:
        handle = _uploaded_model()
        if handle is not None:
            return handle
        sb.info("Until a weight file loads, the default model is used.")
        return shared_model(zoo.DEFAULT_MODEL)
    untrained = state.toggle("Untrained (random weights)", "untrained", False, container=sb,
                             help="The same architecture with seeded random weights: compare what training changed.")
    if name in zoo.ZOO and not untrained:
        status = zoo.weight_status(name)
        if not status.available:
            with sb.expander("ImageNet weights missing", icon=":material/download:"):
                st.markdown(f"Put `{Path(status.url).name}` at `{status.path}` and reload, or download it now "
                            f"(needs network access).\n\nURL: {status.url}")
                if st.button("Download weights", key="dl_weights"):
                    bar = st.progress(0.0, text="Downloading…")
                    try:
                        zoo.download_weights(name, lambda d, t: bar.progress(min(1.0, d / t) if t else 0.0, text=f"{d / 2**20:.0f} MiB"))
                        shared_model.clear()
                        st.rerun()
                    except Exception as e:  # no network, HTTP error, disk full
                        st.error(f"Download failed: {e}. Copy the file by hand to the path above.")
    try:
        return shared_model(name, untrained)
    except Exception as e:  # a missing asset or broken weight file must not take the app down
        sb.error(f"Could not load {name}: {e}")
        return shared_model(zoo.DEFAULT_MODEL)


def _uploaded_model() -> ModelHandle | None:
    sb = st.sidebar
    archs = list(zoo.BUNDLED) + list(zoo.ZOO)
    arch = sb.selectbox("Architecture of your weights", archs, key="upload_arch")
    n = sb.number_input("Number of classes", 1, 100_000, 10 if arch in zoo.BUNDLED else 1000, key="upload_classes")
    up = sb.file_uploader("Upload model weights (.safetensors or state_dict .pt)", type=["safetensors", "pt", "pth", "bin"], key="upload_model")
    if up is None:
        return None
    try:
        return shared_uploaded_model(arch, int(n), up.getvalue(), up.name)
    except ModelFileError as e:
        sb.error(str(e))
    except Exception as e:
        sb.error(f"Could not use {up.name}: {e}")
    return None


def _image_input(model: ModelHandle) -> tuple[Image.Image, str, str]:
    sb = st.sidebar
    sb.subheader("Input image")
    source = state.select("Source", "src", ["sample", "upload", "camera"], "sample", container=sb, radio=True,
                          horizontal=True, format_func=lambda s: {"sample": "Sample", "upload": "Upload", "camera": "Camera"}[s])
    names = sample_names(model)
    if source == "sample":
        default = names[0]
        if st.session_state.get("_sample_for") != model.dataset and "qp:img" in st.session_state and "img" not in st.query_params:
            st.session_state["qp:img"] = default  # switching model family: pick a sample that suits it
        st.session_state["_sample_for"] = model.dataset
        name = state.select("Sample", "img", names, default, container=sb)
        data = sample_path(name).read_bytes()
        img = load_image(data)
        st.session_state["_last_image"] = (img, f"sample {name}", hashlib.sha1(data).hexdigest()[:16])
        return st.session_state["_last_image"]
    if source == "upload":
        up = sb.file_uploader(f"Upload an image ({', '.join(ACCEPTED_TYPES[:5])}…, up to {MAX_UPLOAD_BYTES // 2**20} MiB)",
                              type=ACCEPTED_TYPES, key="upload_image")
    else:
        up = sb.camera_input("Take a picture", key="camera_image")
    if up is not None:
        data = up.getvalue()
        try:
            img = load_image(data)
            st.session_state["_last_image"] = (img, up.name or "camera", hashlib.sha1(data).hexdigest()[:16])
        except ImageError as e:
            sb.error(f"{up.name}: {e}. The previous image is kept.")
    if "_last_image" not in st.session_state:
        data = sample_path(names[0]).read_bytes()
        st.session_state["_last_image"] = (load_image(data), f"sample {names[0]}", hashlib.sha1(data).hexdigest()[:16])
    return st.session_state["_last_image"]


def sidebar() -> Context:
    """Draw the sidebar and store the page context; call once per run from app.py."""
    sb = st.sidebar
    model = _model_picker()
    sb.caption(f"Device: **{model.device_description}**")
    if not model.trained:
        sb.warning("UNTRAINED weights", icon=":material/warning:")
    img, label, key = _image_input(model)
    try:
        seen = model.deprocess(model.preprocess(img))
        sb.image(enlarge(seen, 160), caption=f"What the model sees: {model.input_size[2]}x{model.input_size[1]}"
                 f"{' grayscale' if model.grayscale else ' RGB'} ({label})", width=160)
    except Exception as e:
        sb.error(f"This image cannot be fed to {model.name}: {e}")
    ctx = Context(model, img, label, key)
    st.session_state[_CTX] = ctx
    st.session_state["_ctx_run"] = st.session_state.get(state._USED_RUN)
    return ctx


def share_link() -> None:
    """Show the link that reproduces the current view."""
    qs = "&".join(f"{k}={v}" for k, v in st.query_params.to_dict().items())
    st.sidebar.markdown("**Link to this view**")
    st.sidebar.code(("?" + qs) if qs else "(defaults)", language=None)
    if st.session_state.get("_last_image", (None, ""))[1].startswith("sample") is False:
        st.sidebar.caption("Uploaded images are not part of links.")
