"""Sphinx extension documenting tasks: add ``"procrastinate.contrib.sphinx"``
to ``extensions`` in conf.py, then ``.. autoprocrastinate_task::
mymodule.my_task`` documents a task as the function it wraps (signature and
docstring), and ``.. automodule::`` with ``:members:`` lists a module's tasks
among its functions. Needs Sphinx (``pip install sphinx``)."""

from __future__ import annotations

from typing import Any

from sphinx.application import Sphinx
from sphinx.ext.autodoc import FunctionDocumenter

from procrastinate import tasks


class ProcrastinateTaskDocumenter(FunctionDocumenter):
    """Documents a Task (which autodoc would take for an instance) as its
    function."""

    objtype = "procrastinate_task"
    directivetype = "function"
    # after the module's plain functions
    member_order = 40

    @classmethod
    def can_document_member(cls, member: Any, membername: str, isattr: bool, parent: Any) -> bool:
        return isinstance(member, tasks.Task)

    def import_object(self, raiseerror: bool = False) -> bool:
        imported = super().import_object(raiseerror)
        if imported and isinstance(self.object, tasks.Task):
            # the signature and docstring are the function's
            self.object = self.object.func
        return imported


def setup(app: Sphinx) -> dict[str, Any]:
    app.setup_extension("sphinx.ext.autodoc")
    app.add_autodocumenter(ProcrastinateTaskDocumenter)
    # Sphinx 9's autodoc ignores added documenters when listing a module's
    # members, unless its class-based implementation is chosen
    if "autodoc_use_legacy_class_based" in app.config:
        app.config.autodoc_use_legacy_class_based = True
    return {"version": "1", "parallel_read_safe": True}
