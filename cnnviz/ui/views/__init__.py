"""The views of every page, one module per page (``cnnviz.ui.views.<page path>``, dashes as underscores).

Importing a module registers its views (``cnnviz.ui.view.register``); ``view.get`` imports the one module a view
id names, ``view.all_views`` every module.
"""
