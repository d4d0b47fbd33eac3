"""The compiler service: its spec, registered under the ``playbooks.services`` entry point."""

from __future__ import annotations

from playbooks_platform.service import ServiceSpec, create_app

from .routes import router
from .settings import CompilerSettings

spec = ServiceSpec(
    name="compiler",
    package="compiler",
    description="Compiles prose Markdown TSGs into schema-valid, governed runbooks with a mapping report; "
    "validates runbooks; publishes compiled runbooks to runbooks.compiled.v1 for review.",
    settings_cls=CompilerSettings,
    routers=[router],
    schema=None,
)


def create() -> object:
    """ASGI factory: ``uvicorn --factory compiler.main:create``."""
    return create_app(spec)
