"""/api/docs: the OpenAPI description as one plain HTML page, rendered on the server.

Swagger UI would load its scripts from a CDN, which the Content-Security-Policy (and offline servers)
do not allow; this page needs no script at all.
"""

from __future__ import annotations

from html import escape
from typing import Any


def _schema_text(schema: dict[str, Any]) -> str:
    if "enum" in schema:
        return " | ".join(str(v) for v in schema["enum"])
    if "anyOf" in schema:
        return " or ".join(_schema_text(s) for s in schema["anyOf"] if s.get("type") != "null")
    text = str(schema.get("type", "value"))
    if "maximum" in schema:
        text += f", at most {schema['maximum']}"
    if "default" in schema and schema["default"] is not None:
        text += f", default {schema['default']}"
    return text


def render_api_docs(spec: dict[str, Any]) -> str:
    info = spec.get("info", {})
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>{escape(info.get('title', 'API'))} API</title>",
        "<meta name='viewport' content='width=device-width, initial-scale=1'></head><body>",
        f"<h1>{escape(info.get('title', 'API'))} API {escape(str(info.get('version', '')))}</h1>",
        f"<p>{escape(info.get('description', ''))}</p>",
        "<p>Machine-readable description: <a href='/api/openapi.json'>/api/openapi.json</a>.</p>",
    ]
    for path, operations in spec.get("paths", {}).items():
        for method, op in operations.items():
            parts.append(f"<h2><code>{escape(method.upper())} {escape(path)}</code></h2>")
            parts.append(f"<p><strong>{escape(op.get('summary', ''))}</strong></p>")
            if op.get("description"):
                parts.append(f"<p>{escape(op['description'])}</p>")
            params = op.get("parameters", [])
            if params:
                parts.append("<table><tr><th>parameter</th><th>in</th><th>type</th><th>meaning</th></tr>")
                for p in params:
                    parts.append(
                        f"<tr><td><code>{escape(p['name'])}</code>{' (required)' if p.get('required') else ''}</td>"
                        f"<td>{escape(p.get('in', ''))}</td><td>{escape(_schema_text(p.get('schema', {})))}</td>"
                        f"<td>{escape(p.get('description', ''))}</td></tr>"
                    )
                parts.append("</table>")
            codes = ", ".join(f"{escape(code)} {escape(r.get('description', ''))}"
                              for code, r in op.get("responses", {}).items())
            parts.append(f"<p>Answers: {codes}</p>")
    parts.append("</body></html>")
    return "\n".join(parts)
