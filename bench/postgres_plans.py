#!/usr/bin/env python3
"""Checks the plans auto_explain logged (JSON format, log_analyze on) for the queue's tables.

    python3 bench/postgres_plans.py SERVER_LOG [--index-map FILE] [--tables cancellations,cancellation_attempts]

For each distinct statement (its query text normalized: literals replaced, whitespace collapsed):
how many times it ran, its mean and longest duration, the most shared buffers one run touched, and
its worst node on the checked tables. A statement FAILS when, in any of its runs:
  - a Seq Scan reads one of the checked tables;
  - an index node on one of them examines more than RATIO x, and more than SLACK rows more than, what
    the statement returned. Examined: Actual Rows x loops, plus Rows Removed by Filter and by Index
    Recheck (x loops: EXPLAIN reports both per loop). Returned: the top node's Actual Rows x loops, or
    for a ModifyTable without RETURNING the rows its subplan fed it (the rows written);
  - a Sort node sorts more than SORT_LIMIT rows (any table).
Prints one line per statement and "plans: N statements checked, K failures"; exits 1 when K > 0.
"""
import argparse
import json
import re
import sys
from collections import Counter, OrderedDict

RATIO = 10.0
SLACK = 1000
SORT_LIMIT = 10000

ENTRY = re.compile(r"duration: ([0-9.]+) ms\s+plan:\s*")
INDEX_NODES = {"Index Scan", "Index Only Scan", "Bitmap Index Scan", "Bitmap Heap Scan"}


def entries(text):
    """(duration ms, plan document) for every auto_explain entry in the log."""
    decoder = json.JSONDecoder()
    for match in ENTRY.finditer(text):
        start = text.find("{", match.end())
        if start < 0:
            continue
        try:
            document, _ = decoder.raw_decode(text, start)
        except json.JSONDecodeError as error:
            print(f"warning: unreadable plan at byte {start}: {error}", file=sys.stderr)
            continue
        yield float(match.group(1)), document


STRING = re.compile(r"'(?:[^']|'')*'")
NUMBER = re.compile(r"(?<![\w$.])-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?(?![\w.])")
SPACE = re.compile(r"\s+")
REPEATED_TUPLES = re.compile(r"(\((?:\?|\$\d+)(?:\s*,\s*(?:\?|\$\d+))*\))(?:\s*,\s*\((?:\?|\$\d+)(?:\s*,\s*(?:\?|\$\d+))*\))+")
REPEATED_PARAMS = re.compile(r"(?:\?|\$\d+)(?:\s*,\s*(?:\?|\$\d+)){2,}")


def normalize(query):
    query = STRING.sub("?", query)
    query = NUMBER.sub("?", query)
    query = SPACE.sub(" ", query).strip()
    query = REPEATED_TUPLES.sub(r"\1, ...", query)
    query = REPEATED_PARAMS.sub("?, ...", query)
    return query


def walk(node, parent=None):
    yield node, parent
    for child in node.get("Plans", []) or []:
        yield from walk(child, node)


def total(node, key):
    return float(node.get(key, 0) or 0) * float(node.get("Actual Loops", 1) or 0)


def returned_rows(top):
    rows = total(top, "Actual Rows")
    if top.get("Node Type") == "ModifyTable":
        feeders = [c for c in top.get("Plans", []) or [] if c.get("Parent Relationship") in (None, "Outer", "Member")]
        if feeders:
            rows = max(rows, total(feeders[0], "Actual Rows"))
    return rows


def describe(node, table):
    kind = node.get("Node Type")
    name = node.get("Index Name")
    where = node.get("Index Cond") or node.get("Recheck Cond") or ""
    text = f"{kind} on {table}" + (f" using {name}" if name else "")
    extra = node.get("Filter")
    if where:
        text += f" [{where}]"
    if extra:
        text += f" filter [{extra}]"
    return text


def check(plan, tables, index_map):
    """(failures as (node, rows, message), worst node (description, rows examined), rows returned) of one run."""
    top = plan
    returned = returned_rows(top)
    failures = []
    worst = None
    for node, parent in walk(top):
        kind = node.get("Node Type")
        table = node.get("Relation Name") or index_map.get(node.get("Index Name", ""), "")
        if kind == "Seq Scan" and table in tables:
            examined = total(node, "Actual Rows") + total(node, "Rows Removed by Filter")
            failures.append((f"Seq Scan on {table}", examined, f"Seq Scan on {table} (read {examined:.0f} rows)"))
            if worst is None or examined > worst[1]:
                worst = (f"Seq Scan on {table}" + (f" filter [{node['Filter']}]" if node.get("Filter") else ""), examined)
        elif kind in INDEX_NODES and table in tables:
            examined = (total(node, "Actual Rows") + total(node, "Rows Removed by Filter")
                        + total(node, "Rows Removed by Index Recheck"))
            if examined > RATIO * max(returned, 1) and examined - returned > SLACK:
                label = f"{kind} on {table} using {node.get('Index Name')}"
                failures.append((label, examined, f"{describe(node, table)} examined {examined:.0f} rows for {returned:.0f} returned"))
            if worst is None or examined > worst[1]:
                worst = (describe(node, table), examined)
        elif kind == "Sort":
            children = node.get("Plans", []) or []
            rows = max([total(node, "Actual Rows")] + [total(c, "Actual Rows") for c in children[:1]])
            if rows > SORT_LIMIT:
                failures.append((f"Sort {node.get('Sort Key')}", rows, f"Sort of {rows:.0f} rows (key {node.get('Sort Key')}, {node.get('Sort Method')})"))
    return failures, worst, returned


def shape(plan, tables, index_map):
    """The scans of a plan, in order, for telling its plans apart: "Index Scan cancellations_new, ..."."""
    scans = []
    for node, _ in walk(plan):
        kind = node.get("Node Type", "")
        if "Scan" in kind and kind not in ("CTE Scan", "Function Scan", "Named Tuplestore Scan", "Subquery Scan",
                                           "Values Scan", "WorkTable Scan", "Result"):
            scans.append(f"{kind} {node.get('Index Name') or node.get('Relation Name')}")
        elif kind in ("Sort", "Hash Join", "Merge Join"):
            scans.append(kind)
    return ", ".join(scans) or "no scan"


def buffers(plan):
    return int(plan.get("Shared Hit Blocks", 0) or 0) + int(plan.get("Shared Read Blocks", 0) or 0)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("log")
    parser.add_argument("--index-map", help="JSON object: index name -> table name")
    parser.add_argument("--tables", default="cancellations,cancellation_attempts")
    parser.add_argument("--details", type=int, default=3, help="failing runs shown per failing statement")
    args = parser.parse_args()
    tables = set(args.tables.split(","))
    index_map = {}
    if args.index_map:
        with open(args.index_map) as f:
            index_map = json.load(f)
    with open(args.log, encoding="utf-8", errors="replace") as f:
        text = f.read()

    statements = OrderedDict()
    runs = 0
    for duration, document in entries(text):
        runs += 1
        query = document.get("Query Text", "")
        plan = document.get("Plan", {})
        key = normalize(query)
        s = statements.setdefault(key, {"calls": 0, "ms": 0.0, "max_ms": 0.0, "buffers": 0, "failed_runs": 0,
                                        "failures": OrderedDict(), "worst": None, "returned_at_worst": 0,
                                        "max_returned": 0, "shapes": Counter(), "example": query, "plan": None,
                                        "plan_score": 0})
        s["calls"] += 1
        s["ms"] += duration
        s["max_ms"] = max(s["max_ms"], duration)
        s["buffers"] = max(s["buffers"], buffers(plan))
        failures, worst, returned = check(plan, tables, index_map)
        s["max_returned"] = max(s["max_returned"], returned)
        s["shapes"][shape(plan, tables, index_map)] += 1
        if failures:
            s["failed_runs"] += 1
            # Per failing node, the run in which it read the most.
            for label, rows, message in failures:
                if label not in s["failures"] or rows > s["failures"][label][0]:
                    s["failures"][label] = (rows, message)
            # The failing run shown: the one whose worst node read the most.
            score = worst[1] if worst else 0
            if s["plan"] is None or score > s["plan_score"]:
                s["plan"] = plan
                s["plan_score"] = score
        if worst is not None and (s["worst"] is None or worst[1] > s["worst"][1]):
            s["worst"] = worst
            s["returned_at_worst"] = returned

    if runs == 0:
        print("plans: no auto_explain entries in the log (is auto_explain loaded and log_min_duration 0?)")
        return 1

    print(f"{'verdict':7} {'calls':>7} {'mean ms':>8} {'max ms':>8} {'max buf':>7} {'examined':>9} {'returned':>8}  statement / worst node")
    failed = 0
    for key, s in statements.items():
        verdict = "FAILURE" if s["failed_runs"] else "ok"
        failed += bool(s["failed_runs"])
        examined = f"{s['worst'][1]:.0f}" if s["worst"] else "-"
        returned = f"{s['returned_at_worst']:.0f}" if s["worst"] else f"{s['max_returned']:.0f}"
        print(f"{verdict:7} {s['calls']:>7} {s['ms'] / s['calls']:>8.3f} {s['max_ms']:>8.1f} {s['buffers']:>7} "
              f"{examined:>9} {returned:>8}  {key[:100]}")
        if s["worst"]:
            print(f"{'':65}worst: {s['worst'][0][:160]}")
        if len(s["shapes"]) > 1:
            print(f"{'':65}{len(s['shapes'])} plans over its runs: "
                  + "; ".join(f"{n}x {shape}" for shape, n in s["shapes"].most_common())[:300])
    print()

    if failed:
        print("== failures")
        for key, s in statements.items():
            if not s["failed_runs"]:
                continue
            print(f"-- {s['failed_runs']} of {s['calls']} runs failed: {key}")
            for _, message in list(s["failures"].values())[:args.details]:
                print(f"   worst: {message}")
            print("   plan of a failing run:")
            print_plan(s["plan"], "     ")
        print()

    print(f"plans: {len(statements)} statements checked ({runs} runs), {failed} failures")
    return 1 if failed else 0


def print_plan(node, indent, depth=0):
    kind = node.get("Node Type")
    if kind == "ModifyTable":
        kind = f"{node.get('Operation')} {node.get('Relation Name')}"
    label = kind
    if node.get("Relation Name") and node.get("Node Type") != "ModifyTable":
        label += f" on {node['Relation Name']}"
    if node.get("Index Name"):
        label += f" using {node['Index Name']}"
    detail = []
    for key in ("Index Cond", "Recheck Cond", "Filter", "Join Filter", "Hash Cond", "Sort Key", "Sort Method"):
        if node.get(key):
            detail.append(f"{key}: {node[key]}")
    rows = f"rows={node.get('Actual Rows')} loops={node.get('Actual Loops')}"
    for key in ("Rows Removed by Filter", "Rows Removed by Index Recheck"):
        if node.get(key):
            rows += f" {key.replace('Rows Removed by ', 'removed_by_').replace(' ', '_').lower()}={node[key]}"
    rows += f" buffers={buffers(node)} est={node.get('Plan Rows')}"
    relationship = node.get("Parent Relationship")
    prefix = f"[{relationship}] " if relationship in ("InitPlan", "SubPlan") else ""
    print(f"{indent}{'  ' * depth}-> {prefix}{label} ({rows})" + (f"  {'; '.join(detail)}"[:300] if detail else ""))
    for child in node.get("Plans", []) or []:
        print_plan(child, indent, depth + 1)


if __name__ == "__main__":
    sys.exit(main())
