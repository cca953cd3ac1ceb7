#!/usr/bin/env python3
"""Independent count of SARIF 2.1.0 findings in the public fixtures (helper small).

A result is a finding when kind (default "fail") is "fail" and baselineState
is not "absent". It is suppressed when its suppressions array is non-empty and
every suppression's status is absent or "accepted". Two results are the same
finding when rule id, effective level, message (text, or id+arguments) and
every location (uri, uriBaseId, region, logical names) are equal.
Severity: CVSS security-severity (result, else rule), else a severity tag,
else level (result, else rule default, else warning): error high, warning
medium, note low, none unknown.
"""
import json, glob, os, sys
base = sys.argv[1] if len(sys.argv) > 1 else '/work/shared/fixtures/public/data/sarif'
SEV = ['CRITICAL','HIGH','MEDIUM','LOW']
def sev(res, rule):
    bags = [res.get('properties') or {}] + ([rule.get('properties') or {}] if rule else [])
    for b in bags:
        s = b.get('security-severity')
        if s not in (None,):
            v = float(s)
            if v >= 9: return 'critical'
            if v >= 7: return 'high'
            if v >= 4: return 'medium'
            if v > 0: return 'low'
    for b in bags:
        for t in b.get('tags') or []:
            if t.strip().upper() in SEV: return t.strip().lower()
    lvl = res.get('level') or ((rule or {}).get('defaultConfiguration') or {}).get('level') or 'warning'
    return {'error':'high','warning':'medium','note':'low','none':'unknown'}[lvl]
for f in sorted(glob.glob(os.path.join(base,'**/*.sarif'), recursive=True)):
    try:
        d = json.load(open(f, encoding='utf-8'))
        assert d.get('version') == '2.1.0' and isinstance(d.get('runs'), list)
        assert all(isinstance(run.get('results') or [], list) for run in d['runs'])
    except Exception as e:
        print(os.path.relpath(f, base), 'INVALID'); continue
    counts = {}; supp = {}; raw = 0; seen = set(); notfail = absent = dup = 0
    for run in d['runs']:
        rules = ((run.get('tool') or {}).get('driver') or {}).get('rules') or []
        for r in run.get('results') or []:
            raw += 1
            if r.get('kind','fail') != 'fail': notfail += 1; continue
            if r.get('baselineState') == 'absent': absent += 1; continue
            rid = r.get('ruleId') or (r.get('rule') or {}).get('id') or ''
            idx = r.get('ruleIndex', (r.get('rule') or {}).get('index'))
            rule = None
            if idx is not None and 0 <= idx < len(rules) and (not rid or rules[idx].get('id') == rid): rule = rules[idx]
            elif rid:
                rule = next((x for x in rules if x.get('id') == rid), None)
            lvl = r.get('level') or ((rule or {}).get('defaultConfiguration') or {}).get('level') or 'warning'
            m = r.get('message') or {}
            locs = []
            for l in r.get('locations') or []:
                pl = l.get('physicalLocation') or {}
                al = pl.get('artifactLocation') or {}
                locs.append((al.get('uri'), al.get('uriBaseId'), al.get('index'), json.dumps(pl.get('region'), sort_keys=True),
                             json.dumps([x.get('fullyQualifiedName') or x.get('name') for x in l.get('logicalLocations') or []])))
            key = (rid, lvl, m.get('text'), m.get('id'), json.dumps(m.get('arguments')), json.dumps(locs))
            if key in seen: dup += 1; continue
            seen.add(key)
            s = sev(r, rule)
            sup = r.get('suppressions') or []
            if sup and all(x.get('status', 'accepted') == 'accepted' for x in sup):
                supp[s] = supp.get(s, 0) + 1
            else:
                counts[s] = counts.get(s, 0) + 1
    print(os.path.relpath(f, base), 'results', raw, 'not-fail', notfail, 'absent', absent, 'dup', dup,
          'findings', dict(sorted(counts.items())), 'suppressed', dict(sorted(supp.items())))
