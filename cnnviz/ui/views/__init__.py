"""The views of every page, one module per page; importing this package registers them all
(``cnnviz.ui.view.register``)."""
import importlib
import pkgutil

for _mod in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_mod.name}")
