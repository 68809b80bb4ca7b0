"""Printable documents (notices, letters, reports) rendered from ``templates/``.

This is the only module that imports jinja2. A document is one file
``templates/<id>.html.j2`` whose first line declares the context fields it needs::

    {# caseflow:fields today, issuer.name, case.number, child.masked_id #}

``render`` checks the declared fields before rendering, so a missing (or ``None``)
field is an ``InvalidInput`` naming the template and the field, never a half-printed
letter. Undefined values met while rendering (for example a key missing from a row
of a list) are refused the same way (``StrictUndefined``). Output is HTML with
autoescaping on. Files whose name starts with ``_`` are layouts, not documents.

Filters available to templates: ``cn_date`` (``2026年11月29日``) and ``cn_number``
(``2`` -> ``二``).

``source_hash`` names the exact text a document is rendered from (the template and the
layouts it extends or includes), and ``title`` renders only its ``title`` block: together
they let a notice be queued with its context and rendered later, byte for byte the same.

``bundle`` puts rendered documents into one printable HTML file, each starting a page
(``notice print``'s batch, a campaign's letters to the families of a school or village).
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import jinja2
import jinja2.meta

from caseflow.dates import cn_date as _format_cn_date
from caseflow.errors import InvalidInput
from caseflow.i18n import _
from caseflow.measures import percent
from caseflow.resources import shipped

TEMPLATE_SUFFIX = ".html.j2"

_HEADER = re.compile(r"^\{#\s*caseflow:fields\s+(?P<fields>.*?)\s*#\}\s*$")
_FIELD = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*$")
_TEMPLATE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")
_CN_DIGITS = "零一二三四五六七八九"
_MISSING = object()


@functools.lru_cache(maxsize=1)
def templates_dir() -> Path:
    """Where the document templates live: the installed copy, else the checkout's."""
    return shipped("templates")


def template_ids(directory: Path | None = None) -> tuple[str, ...]:
    """The ids (file stems) of the documents in ``directory``, sorted."""
    folder = _directory(directory)
    return tuple(
        sorted(
            path.name[: -len(TEMPLATE_SUFFIX)]
            for path in folder.iterdir()
            if path.is_file()
            and path.name.endswith(TEMPLATE_SUFFIX)
            and not path.name.startswith("_")
        )
    )


def declared_fields(template_id: str, directory: Path | None = None) -> tuple[str, ...]:
    """The context fields a template declares on its ``caseflow:fields`` first line."""
    return _declared_fields(template_id, _directory(directory))


@functools.lru_cache(maxsize=128)
def _declared_fields(template_id: str, folder: Path) -> tuple[str, ...]:
    path = _template_path(template_id, folder)
    with path.open(encoding="utf-8") as handle:
        first_line = handle.readline()
    match = _HEADER.match(first_line)
    if match is None:
        raise InvalidInput(
            _(
                "template {template!r} does not begin with a '{header}' line; add one listing "
                "the fields it uses"
            ).format(template=template_id, header="{# caseflow:fields a.b, c.d #}")
        )
    fields = tuple(part.strip() for part in match.group("fields").split(","))
    bad = [field for field in fields if not _FIELD.match(field)]
    if bad or not fields:
        raise InvalidInput(
            _(
                "template {template!r}: malformed caseflow:fields header ({fields}); write "
                "dotted names separated by commas"
            ).format(
                template=template_id,
                fields=", ".join(repr(field) for field in bad) or _("no fields"),
            )
        )
    duplicates = sorted({field for field in fields if fields.count(field) > 1})
    if duplicates:
        raise InvalidInput(
            _("template {template!r}: caseflow:fields lists {fields} more than once").format(
                template=template_id, fields=", ".join(duplicates)
            )
        )
    return fields


def render(template_id: str, context: Mapping[str, object], directory: Path | None = None) -> str:
    """Render one document to HTML.

    Raises ``InvalidInput`` for an unknown template, a declared field that is missing
    from ``context`` or is ``None``, or any other undefined value met while rendering.
    """
    folder = _directory(directory)
    missing = [
        field
        for field, path in _declared_paths(template_id, folder)
        if _lookup(context, path) is _MISSING
    ]
    if missing:
        raise InvalidInput(
            _(
                "template {template!r} needs {fields}: missing from the context (or None); "
                "supply a value"
            ).format(template=template_id, fields=", ".join(missing))
        )
    try:
        return _template(template_id, folder).render(dict(context))
    except jinja2.UndefinedError as exc:
        raise InvalidInput(
            _(
                "template {template!r} uses a value missing from the context ({error}); "
                "supply it, and declare it in the caseflow:fields header"
            ).format(template=template_id, error=exc.message)
        ) from exc
    except jinja2.TemplateSyntaxError as exc:
        raise InvalidInput(
            _("template {template!r} has a syntax error at line {line}: {error}").format(
                template=exc.name or template_id, line=exc.lineno, error=exc.message
            )
        ) from exc
    except jinja2.TemplateNotFound as exc:
        raise InvalidInput(
            _("template {template!r} refers to {name!r}, which does not exist").format(
                template=template_id, name=exc.name
            )
        ) from exc
    except InvalidInput as exc:
        raise InvalidInput(
            _("template {template!r}: {error}").format(template=template_id, error=exc.message)
        ) from exc


def title(template_id: str, context: Mapping[str, object], directory: Path | None = None) -> str:
    """The document's title (its ``title`` block, as the rendered ``<title>`` holds it),
    without rendering the rest; the template id when it has none."""
    folder = _directory(directory)
    constant = _constant_title(template_id, folder)
    if constant is not None:
        return constant
    template = _template(template_id, folder)
    block = template.blocks.get("title")
    if block is None:
        return template_id
    try:
        return "".join(block(template.new_context(dict(context)))).strip() or template_id
    except jinja2.UndefinedError as exc:
        raise InvalidInput(
            _(
                "template {template!r}: its title uses a value missing from the context "
                "({error}); supply it"
            ).format(template=template_id, error=exc.message)
        ) from exc


@functools.lru_cache(maxsize=128)
def _constant_title(template_id: str, folder: Path) -> str | None:
    """The title of a document whose ``title`` block is plain text (or that has none), the
    same for every context; None when the title is rendered from the context."""
    environment = _environment(folder)
    source = _template_path(template_id, folder).read_text(encoding="utf-8")
    blocks = [
        block
        for block in environment.parse(source).find_all(jinja2.nodes.Block)
        if block.name == "title"
    ]
    if not blocks:
        return template_id
    if any(
        not isinstance(node, jinja2.nodes.Output | jinja2.nodes.TemplateData)
        for node in blocks[0].find_all(jinja2.nodes.Node)
    ):
        return None
    template = _template(template_id, folder)
    return "".join(template.blocks["title"](template.new_context({}))).strip() or template_id


def source_hash(template_id: str, directory: Path | None = None) -> str:
    """SHA-256 (hex) over the source a document is rendered from: the template and, in
    name order, every template it extends, includes or imports, each as
    ``<file name>\\0<source>\\0`` in UTF-8. The same hash means the same output for the
    same context."""
    return _source_hash(template_id, _directory(directory))


@functools.lru_cache(maxsize=128)
def _source_hash(template_id: str, folder: Path) -> str:
    environment = _environment(folder)
    pending = [_template_path(template_id, folder).name]
    sources: dict[str, str] = {}
    while pending:
        name = pending.pop()
        if name in sources:
            continue
        try:
            source, _filename, _uptodate = environment.loader.get_source(  # type: ignore[union-attr]
                environment, name
            )
        except jinja2.TemplateNotFound as exc:
            raise InvalidInput(
                _("template {template!r} refers to {name!r}, which does not exist").format(
                    template=template_id, name=exc.name
                )
            ) from exc
        sources[name] = source
        referenced = jinja2.meta.find_referenced_templates(environment.parse(source))
        for other in referenced:
            if other is None:
                raise InvalidInput(
                    _(
                        "template {template!r}: {name} names a template by a variable; name "
                        "layouts and includes literally"
                    ).format(template=template_id, name=name)
                )
            pending.append(other)
    digest = hashlib.sha256()
    for name in sorted(sources):
        digest.update(f"{name}\0{sources[name]}\0".encode())
    return digest.hexdigest()


_STYLE = re.compile(r"<style\b[^>]*>(.*?)</style\s*>", re.S | re.I)
_BODY = re.compile(r"<body\b[^>]*>(.*)</body\s*>", re.S | re.I)
_HEAD = re.compile(r"<head\b[^>]*>.*?</head\s*>", re.S | re.I)
_WRAPPER = re.compile(r"<!DOCTYPE[^>]*>|</?html\b[^>]*>|</?body\b[^>]*>", re.I)
_BUNDLE_MARK = '<section class="caseflow-letter"'
_BREAKS = """\
.caseflow-letter { break-after: page; page-break-after: always; }
.caseflow-letter:last-child { break-after: auto; page-break-after: auto; }
@media screen { .caseflow-letter { margin: 0 0 10mm; } }"""


def bundle(documents: Sequence[tuple[str, str]], title: str | None = None) -> str:
    """Rendered documents, each ``(source, html)``, as ONE printable HTML file: each
    document's body in a section of its own that starts a new page, each distinct
    stylesheet of the documents kept once, in order. ``title`` names the file (default:
    控辍保学文书（N份）); ``source`` is kept as the section's ``data-source``."""
    styles: list[str] = []
    sections = []
    for source, html in documents:
        for style in _STYLE.findall(html):
            if style.strip() and style not in styles:
                styles.append(style)
        body = _BODY.search(html)
        content = body.group(1) if body else _WRAPPER.sub("", _HEAD.sub("", html))
        where = source.replace("&", "&amp;").replace('"', "&quot;")
        sections.append(f'{_BUNDLE_MARK} data-source="{where}">\n{content.strip()}\n</section>')
    head_styles = "".join(f"<style>{style}</style>\n" for style in styles)
    name = title or f"控辍保学文书（{len(documents)}份）"
    name = name.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return (
        '<!DOCTYPE html>\n<html lang="zh-CN">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{name}</title>\n"
        f"{head_styles}<style>\n{_BREAKS}\n</style>\n</head>\n<body>\n"
        + "\n".join(sections)
        + "\n</body>\n</html>\n"
    )


def is_bundle(html: str) -> bool:
    """Whether an HTML file is a bundle that ``bundle`` made (not a document of its own)."""
    return _BUNDLE_MARK in html


def cn_date(value: object) -> str:
    """``date(2026, 11, 29)`` -> ``2026年11月29日``; a datetime prints its date.

    Anything else, ``None`` included, is refused: a blank date on a served notice
    is worse than no notice.
    """
    if isinstance(value, jinja2.Undefined):
        str(value)  # StrictUndefined raises UndefinedError naming the value
    if isinstance(value, dt.datetime):
        return _format_cn_date(value.date())
    if isinstance(value, dt.date):
        return _format_cn_date(value)
    shown = "None" if value is None else type(value).__name__
    raise InvalidInput(_("cn_date needs a date, got {value}").format(value=shown))


def cn_number(value: object) -> str:
    """A whole number 0 <= n < 100000000 in Chinese numerals: 2 -> 二, 15 -> 十五."""
    if isinstance(value, jinja2.Undefined):
        str(value)
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 10**8:
        raise InvalidInput(
            _("cn_number needs a whole number from 0 to 99999999, got {value!r}").format(
                value=value
            )
        )
    if value == 0:
        return _CN_DIGITS[0]
    high, low = divmod(value, 10_000)
    if high == 0:
        return _strip_leading_one(_below_10000(low), low)
    text = _strip_leading_one(_below_10000(high), high) + "万"
    if low:
        text += ("零" if low < 1000 else "") + _below_10000(low)
    return text


def _below_10000(number: int) -> str:
    parts: list[str] = []
    started = False
    zero_pending = False
    for digit_char, unit in zip(f"{number:04d}", ("千", "百", "十", ""), strict=True):
        digit = int(digit_char)
        if digit == 0:
            zero_pending = started
            continue
        if zero_pending:
            parts.append(_CN_DIGITS[0])
            zero_pending = False
        parts.append(_CN_DIGITS[digit] + unit)
        started = True
    return "".join(parts)


def _strip_leading_one(text: str, number: int) -> str:
    # 10-19 read 十, 十一 ... not 一十, 一十一 when they lead the number.
    return text[1:] if 10 <= number < 20 else text


def _directory(directory: Path | None) -> Path:
    if directory is None:
        return templates_dir()
    folder = Path(directory)
    if not folder.is_dir():
        raise InvalidInput(_("template directory {folder} does not exist").format(folder=folder))
    return folder.resolve()


def _template_path(template_id: str, folder: Path) -> Path:
    path = folder / (template_id + TEMPLATE_SUFFIX)
    if not _TEMPLATE_ID.match(template_id) or template_id.startswith("_") or not path.is_file():
        known = ", ".join(template_ids(folder)) or _("none")
        raise InvalidInput(
            _("unknown template {template!r}; known templates: {known}").format(
                template=template_id, known=known
            )
        )
    return path


@functools.lru_cache(maxsize=128)
def _declared_paths(template_id: str, folder: Path) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """Each declared field with its dotted path split, for checking a context quickly."""
    fields = _declared_fields(template_id, folder)
    return tuple((field, tuple(field.split("."))) for field in fields)


@functools.lru_cache(maxsize=128)
def _template(template_id: str, folder: Path) -> jinja2.Template:
    """The compiled template (a sweep renders thousands of notices from a handful)."""
    return _environment(folder).get_template(template_id + TEMPLATE_SUFFIX)


def _lookup(context: Mapping[str, object], path: tuple[str, ...]) -> object:
    """The value at a dotted path, or ``_MISSING`` when absent or None (as Jinja reads it)."""
    value: object = context
    for part in path:
        if type(value) is dict or isinstance(value, Mapping):
            value = value.get(part, _MISSING)
        else:
            value = getattr(value, part, _MISSING)
        if value is _MISSING or value is None:
            return _MISSING
    return value


class _Environment(jinja2.Environment):
    """Documents are rendered from plain dicts: ``case.number`` reads the key first.

    Jinja's own order (attribute first, then item) raises and catches an AttributeError
    for every dotted name on a dict, the bulk of the time a sweep spends in its notices.
    A key named like a dict method (``items``) thus reads the value, as a document means."""

    def getattr(self, obj: object, attribute: str) -> object:
        if type(obj) is dict:
            try:
                return obj[attribute]
            except KeyError:
                pass
        return super().getattr(obj, attribute)


@functools.lru_cache(maxsize=32)
def _environment(folder: Path) -> jinja2.Environment:
    environment = _Environment(
        loader=jinja2.FileSystemLoader(str(folder), encoding="utf-8"),
        undefined=jinja2.StrictUndefined,
        autoescape=jinja2.select_autoescape(
            enabled_extensions=("html.j2", "html", "htm", "xml"),
            default_for_string=True,
            default=True,
        ),
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,  # templates are installed files: read each once per process
    )
    environment.filters["cn_date"] = cn_date
    environment.filters["cn_number"] = cn_number
    environment.filters["percent"] = percent
    return environment
