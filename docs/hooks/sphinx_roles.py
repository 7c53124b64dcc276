"""Griffe extension: show the docstrings' Sphinx markup as Markdown on the site.

The docstrings are Google style but use Sphinx roles (:func:`~priors.x.f`, :math:`...`) and
reST literal blocks (a paragraph ending in ``::``), which Markdown would print verbatim. This
rewrites them in the parsed docstring only (the source is untouched): a role becomes inline
code (``~`` keeps the last dotted component, as in Sphinx), ``::`` ending a line becomes ``:``,
and reST double-backtick literals become single-backtick code.
"""
from __future__ import annotations

import re

import griffe

ROLE = re.compile(r":(?:py:)?(?:func|class|meth|mod|attr|obj|data|exc|math|ref):`([^`]+)`")
LITERAL = re.compile(r"``([^`]+)``")
BLOCK = re.compile(r"(\S)::[ \t]*$", re.MULTILINE)


def _role(match: re.Match) -> str:
    text = match.group(1)
    if text.startswith("~"):
        text = text[1:].rsplit(".", 1)[-1]
    return f"`{text}`"


def markdown(text: str) -> str:
    text = ROLE.sub(_role, text)
    text = LITERAL.sub(r"`\1`", text)
    return BLOCK.sub(r"\1:", text)


class SphinxRoles(griffe.Extension):
    def on_object(self, *, obj: griffe.Object, loader: griffe.GriffeLoader, **kwargs) -> None:
        if obj.docstring is not None:
            obj.docstring.value = markdown(obj.docstring.value)
