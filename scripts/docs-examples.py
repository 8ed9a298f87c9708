#!/usr/bin/env python3
"""scripts/docs-examples.py TEMPLATE_DB FILE... -- runs every SQL example of
the Markdown files as written, against a copy of TEMPLATE_DB (a database
holding `make demo`'s data, made by scripts/run-suites.sh), one copy per
file, the file's examples in order in it.

  ```sql             runs with psql; it must not fail;
  ```text            right after an sql block: what psql prints for it
                     (errors included), which must be printed exactly;
  ```sql norun       is not run (installation steps, other systems).

Prints one line per example, "FILE:LINE ... ok" or "... FAILED" with the
difference, and exits 1 when any failed.  Needs the PG* variables of a
running cluster."""
import difflib
import os
import re
import subprocess
import sys

BLOCK = re.compile(r'^```sql([^\n]*)\n(.*?)^```\n(?:[ \t]*\n)*(?:^```text\n(.*?)^```\n)?', re.S | re.M)
PRELUDE = ('\\set VERBOSITY default\n\\set SHOW_CONTEXT never\n\\pset footer off\n'
           'SET client_min_messages = warning;\n')


def normalize(text):
    lines = [re.sub(r'^psql:[^ ]*: ', '', line).rstrip() for line in text.splitlines()]
    while lines and not lines[0]:
        lines.pop(0)
    while lines and not lines[-1]:
        lines.pop()
    return lines


def run(db, sql, errors_expected):
    result = subprocess.run(['psql', '-X', '-q', '-d', db, '-v', 'ON_ERROR_STOP=%d' % (0 if errors_expected else 1), '-f', '-'],
                            input=PRELUDE + sql, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    return result.returncode, result.stdout


def check_file(template, path, number):
    db = 'docs_examples_%d' % number
    subprocess.run(['dropdb', '--if-exists', db], check=True, stderr=subprocess.DEVNULL)
    subprocess.run(['createdb', '-T', template, db], check=True)
    text = open(path).read()
    failures = 0
    for match in BLOCK.finditer(text):
        where = '%s:%d' % (path, text.count('\n', 0, match.start()) + 1)
        if 'norun' in match.group(1).split():
            print(where, '... skipped (norun)')
            continue
        expected = match.group(3)
        code, output = run(db, match.group(2), expected is not None and 'ERROR:' in expected)
        if code != 0 and (expected is None or 'ERROR:' not in expected):
            print(where, '... FAILED')
            print('\n'.join('    ' + line for line in normalize(output)[-15:]))
            failures += 1
        elif expected is not None and normalize(output) != normalize(expected):
            print(where, '... FAILED (output differs from the doc)')
            for line in difflib.unified_diff(normalize(expected), normalize(output), 'doc', 'psql', lineterm='', n=1):
                print('    ' + line)
            failures += 1
        else:
            print(where, '... ok')
    subprocess.run(['dropdb', db], check=True)
    return failures


def main(template, paths):
    failures = sum(check_file(template, path, i) for i, path in enumerate(paths))
    sys.exit(1 if failures else 0)


if __name__ == '__main__':
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    os.environ.setdefault('PGOPTIONS', '')
    main(sys.argv[1], sys.argv[2:])
