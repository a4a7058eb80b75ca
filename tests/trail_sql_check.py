"""Runs the trail relation's SQL over raw CloudTrail records and compares it with the lake.

Usage: trail_sql_check.py DDL RELATION RECORDS LAKE_PARQUET

- DDL: the raw trail table's CREATE statement (its column list gives the types);
- RELATION: the derived table (Trino SQL) computing the lake's columns from the raw ones;
- RECORDS: JSON lines, one raw CloudTrail record each, with `_account`, `_region`, `_day`
  (the partition values Athena takes from the file's location);
- LAKE_PARQUET: the same records as the exporter writes them (the reference).

The records are loaded the way Athena's JSON SerDe reads them into the DDL's types (keys matched
case-insensitively, object-valued string columns as their JSON text), the relation is
translated to DuckDB's dialect by sqlglot and run, and every column of every row is compared.
Prints one line per mismatching column and exits 1 when there is any.
"""

import json
import re
import sys
import tempfile

import duckdb
import sqlglot


def split_top(s, sep=","):
    out, depth, cur = [], 0, ""
    for ch in s:
        if ch in "<(":
            depth += 1
        elif ch in ">)":
            depth -= 1
        if ch == sep and depth == 0:
            out.append(cur)
            cur = ""
        else:
            cur += ch
    if cur.strip():
        out.append(cur)
    return out


def parse_type(t):
    t = t.strip()
    low = t.lower()
    if low.startswith("struct<"):
        fields = []
        for f in split_top(t[7:-1]):
            name, ft = f.split(":", 1)
            fields.append((name.strip().lower(), parse_type(ft)))
        return ("struct", fields)
    if low.startswith("array<"):
        return ("array", parse_type(t[6:-1]))
    if low.startswith("map<"):
        k, v = split_top(t[4:-1])
        return ("map", parse_type(k), parse_type(v))
    return ("scalar", low)


def duck_type(t):
    kind = t[0]
    if kind == "struct":
        return "STRUCT(" + ", ".join(f'"{n}" {duck_type(ft)}' for n, ft in t[1]) + ")"
    if kind == "array":
        return duck_type(t[1]) + "[]"
    if kind == "map":
        return f"MAP({duck_type(t[1])}, {duck_type(t[2])})"
    return {"string": "VARCHAR", "boolean": "BOOLEAN", "int": "INTEGER", "bigint": "BIGINT"}[t[1]]


def as_type(value, t):
    """A JSON value as the SerDe reads it into type t."""
    if value is None:
        return None
    kind = t[0]
    if kind == "struct":
        if not isinstance(value, dict):
            return None
        lower = {k.lower(): v for k, v in value.items()}
        return {n: as_type(lower.get(n), ft) for n, ft in t[1]}
    if kind == "array":
        return [as_type(v, t[1]) for v in value] if isinstance(value, list) else None
    if kind == "map":
        return {str(k): as_type(v, t[2]) for k, v in value.items()} if isinstance(value, dict) else None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def columns(ddl):
    body = ddl[ddl.index("(") + 1 : ddl.index("\nPARTITIONED BY")]
    body = body[: body.rindex(")")]
    cols = []
    for c in split_top(body):
        c = c.strip()
        if not c:
            continue
        name, t = c.split(None, 1)
        cols.append((name.lower(), parse_type(t)))
    return cols


def norm(col, v):
    if v is None:
        return None
    if col in ("request_parameters", "response_elements", "additional_event_data", "resources"):
        try:
            return json.loads(v)
        except (TypeError, ValueError):
            return v
    if col == "event_time":
        return v.strftime("%Y-%m-%dT%H:%M:%S.%f") if hasattr(v, "strftime") else str(v)
    return v


def main():
    ddl_path, relation_path, records_path, parquet_path = sys.argv[1:5]
    ddl = open(ddl_path).read()
    relation = open(relation_path).read()
    cols = columns(ddl)
    with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False) as out:
        n = 0
        for line in open(records_path):
            rec = json.loads(line)
            lower = {k.lower(): v for k, v in rec.items()}
            row = {name: as_type(lower.get(name), t) for name, t in cols}
            row["account"] = rec["_account"]
            row["region"] = rec["_region"]
            row["day"] = rec["_day"]
            out.write(json.dumps(row) + "\n")
            n += 1
    spec = {name: duck_type(t) for name, t in cols}
    spec.update({"account": "VARCHAR", "region": "VARCHAR", "day": "VARCHAR"})
    con = duckdb.connect()
    con.execute(
        "CREATE TABLE trail AS SELECT * FROM read_json(?, format = 'newline_delimited', columns = "
        + "{" + ", ".join(f"'{k}': '{v}'" for k, v in spec.items()) + "})",
        [out.name],
    )
    sql = sqlglot.transpile(f"SELECT * FROM {relation} events", read="trino", write="duckdb")[0]
    cur = con.execute(sql)
    names = [d[0] for d in cur.description]
    got = {r[names.index("event_id")]: dict(zip(names, r)) for r in cur.fetchall()}
    cur = con.execute("SELECT * FROM read_parquet(?)", [parquet_path])
    lake_names = [d[0] for d in cur.description]
    want = {r[lake_names.index("event_id")]: dict(zip(lake_names, r)) for r in cur.fetchall()}

    bad = {}
    if set(got) != set(want):
        print(f"rows: trail has {len(got)}, lake {len(want)}; only in trail {sorted(set(got) - set(want))[:5]}, only in lake {sorted(set(want) - set(got))[:5]}")
        bad["rows"] = 1
    missing = [c for c in lake_names if c not in names]
    if missing:
        print(f"columns the relation lacks: {missing}")
        bad["columns"] = 1
    for eid in sorted(set(got) & set(want)):
        for c in lake_names:
            if c in missing:
                continue
            a, b = norm(c, got[eid][c]), norm(c, want[eid][c])
            if a != b:
                if c not in bad:
                    print(f"{c}: event {eid}: trail {a!r}, lake {b!r}")
                bad[c] = bad.get(c, 0) + 1
    print(f"{n} records, {len(got)} rows compared, {len(lake_names)} columns; mismatches: {bad or 'none'}")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
