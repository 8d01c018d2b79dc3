"""Schemathesis hooks (loaded through schemathesis.toml, by the CLI and by the contract test).

Two adjustments to the cases schemathesis labels *positive*, neither of which makes a valid
case invalid:

- its coverage phase draws header values only from letters and digits, so for `If-Match`,
  whose pattern needs a `"` (or `*`), it finds no valid value and sends `0` in the "default
  positive" case, which the document itself refuses: such a value becomes the valid ETag `"1"`;
- an `Idempotency-Key` is made unique, since a key reused with another body is refused by
  design (422; tests/e2e/test_orders_api.py covers that), which no schema can express.
"""

from __future__ import annotations

import itertools
import re
import uuid

import schemathesis

from orderline.entrypoints.api.contract import ETAG_PATTERN

ETAG = re.compile(ETAG_PATTERN)
RUN = uuid.uuid4().hex[:8]
KEYS = itertools.count()


@schemathesis.hook
def map_case(context: schemathesis.HookContext, case: schemathesis.Case) -> schemathesis.Case:
    headers = case.headers
    if not headers or case.meta is None or not case.meta.generation.mode.is_positive:
        return case
    for name in list(headers):
        if name.lower() == "if-match" and not ETAG.fullmatch(str(headers[name])):
            headers[name] = '"1"'
        elif name.lower() == "idempotency-key":
            headers[name] = f"contract-{RUN}-{next(KEYS)}"
    return case
