"""compiler: prose Markdown TSGs to schema-valid, governed runbooks with a mapping report."""

from .pipeline import CompileResult, compile_document, compile_rules

__all__ = ["CompileResult", "compile_document", "compile_rules"]
