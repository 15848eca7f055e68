"""A small TOML writer for the scenario files the dataset builder generates (Python reads TOML
but does not write it)."""

import json


def _value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v) if isinstance(v, float) else str(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, list):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{k} = {_value(x)}" for k, x in v.items()) + " }"
    raise TypeError(f"cannot write {type(v)} as TOML")


def dumps(doc):
    """`doc`: scalars and lists at the top; lists of dicts become arrays of tables, with one
    level of nested tables (`[profiles.background]`)."""
    lines = []
    tables = {}
    for key, value in doc.items():
        if isinstance(value, list) and value and all(isinstance(x, dict) for x in value):
            tables[key] = value
        else:
            lines.append(f"{key} = {_value(value)}")
    for key, items in tables.items():
        for item in items:
            lines.append(f"\n[[{key}]]")
            nested = {k: v for k, v in item.items() if isinstance(v, dict)}
            for k, v in item.items():
                if k not in nested:
                    lines.append(f"{k} = {_value(v)}")
            for k, v in nested.items():
                lines.append(f"[{key}.{k}]")
                lines.extend(f"{kk} = {_value(vv)}" for kk, vv in v.items())
    return "\n".join(lines) + "\n"
