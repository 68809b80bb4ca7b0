"""The language of everything a person reads: Chinese by default, English on request.

Messages are written in English in the code and marked for translation: ``_("...")`` where
the text is shown, ``N_("...")`` where it is only named (help texts, tables of labels) and
translated when shown. The Chinese catalog is ``caseflow/locale/zh_CN/LC_MESSAGES/
caseflow.po``; the wheel build compiles it (Babel) into ``caseflow.mo`` beside it. In a
checkout the catalog is compiled on first use whenever the ``.po`` is newer.

The language is, in order: ``--lang`` on the command line, ``$CASEFLOW_LANG``, then the
first of ``$LC_ALL``, ``$LC_MESSAGES``, ``$LANG`` that is set. A value starting with
``en`` means English; anything else (``zh_CN.UTF-8``, ``C.UTF-8``) means Chinese.
"""

from __future__ import annotations

import contextlib
import functools
import gettext
import os
from collections.abc import Iterator, Mapping
from pathlib import Path

DOMAIN = "caseflow"
CHINESE = "zh_CN"
ENGLISH = "en"
LOCALE_DIR = Path(__file__).resolve().parent / "locale"
ENVIRONMENT_VARIABLES = ("CASEFLOW_LANG", "LC_ALL", "LC_MESSAGES", "LANG")

_chosen: list[str | None] = [None]


def normalise(value: str) -> str:
    """``en``, ``en_US.UTF-8``, ``English`` → ``en``; everything else → ``zh_CN``."""
    return ENGLISH if value.strip().lower().startswith("en") else CHINESE


def language_from_environment(environ: Mapping[str, str] | None = None) -> str:
    environ = os.environ if environ is None else environ
    for variable in ENVIRONMENT_VARIABLES:
        value = environ.get(variable)
        if value:
            return normalise(value)
    return CHINESE


def set_language(value: str | None) -> None:
    """Use this language from now on in this process (None: follow the environment)."""
    _chosen[0] = None if value is None else normalise(value)


@contextlib.contextmanager
def using(value: str) -> Iterator[None]:
    """This language inside the block, the one chosen before after it."""
    before = _chosen[0]
    set_language(value)
    try:
        yield
    finally:
        _chosen[0] = before


def language() -> str:
    return _chosen[0] or language_from_environment()


def is_english() -> bool:
    return language() == ENGLISH


def _(message: str) -> str:
    """The message in the current language."""
    return _catalog(language()).gettext(message)


def ngettext(singular: str, plural: str, count: int) -> str:
    return _catalog(language()).ngettext(singular, plural, count)


def N_(message: str) -> str:
    """Marks a message for the catalog without translating it here (it is translated where
    it is shown)."""
    return message


def catalog_path(lang: str = CHINESE) -> Path:
    return LOCALE_DIR / lang / "LC_MESSAGES" / f"{DOMAIN}.po"


@functools.cache
def _catalog(lang: str) -> gettext.NullTranslations:
    if lang == ENGLISH:
        return gettext.NullTranslations()
    po = catalog_path(lang)
    mo = po.with_suffix(".mo")
    if po.exists() and (not mo.exists() or mo.stat().st_mtime < po.stat().st_mtime):
        compile_catalog(po, mo)
    if not mo.exists():
        return gettext.NullTranslations()
    with mo.open("rb") as handle:
        return gettext.GNUTranslations(handle)


def compile_catalog(po: Path, mo: Path) -> None:
    """Compiles a ``.po`` catalog into the ``.mo`` gettext reads (Babel; the wheel build does
    this once, a checkout whenever the ``.po`` changed)."""
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    with po.open("rb") as handle:
        catalog = read_po(handle)
    scratch = mo.with_name(f".{mo.name}.{os.getpid()}")
    with scratch.open("wb") as handle:
        write_mo(handle, catalog)
    scratch.chmod(0o644)  # readable by every account sharing the checkout, whatever the umask
    os.replace(scratch, mo)
