#!/usr/bin/env python3
"""An independent verifier of orgledger export files, written from FORMAT.md alone.

It shares no code with orgledger: it recomputes every record's hash with the `blake3`
package, checks each record's shape against the catalogue of FORMAT.md section 11, checks
that each line is in canonical form and that the records chain by `seq` and `prev`, and
recomputes the Merkle tree over the records (FORMAT.md section 12), and prints the same
verdict as `orgledger verify --file`:

    {"events":N,"head":"<hash>","ok":true,"root":"<hash>"}   exit status 0
    {"error":"...","ok":false,"seq":K}              exit status 1, K the first bad record

A file that cannot be read gives exit status 2 and no verdict.

Usage:
    python3 tools/verify_export.py EXPORT_FILE
    python3 tools/verify_export.py --catalogue    # prints the catalogue this verifier knows

Needs: Python 3.8 or later and `pip install -r tools/requirements.txt` (blake3).
"""

import json
import re
import sys
import unicodedata

import blake3

# FORMAT.md section 1, "The constants of version 1".
FORMAT_VERSION = 1
EVENT_HASH_CONTEXT = "orgledger 2026-11-27 event record v1"
# FORMAT.md section 12, the Merkle tree.
TREE_LEAF_CONTEXT = "orgledger 2026-11-27 tree leaf v1"
TREE_NODE_CONTEXT = "orgledger 2026-11-27 tree node v1"
TREE_EMPTY_CONTEXT = "orgledger 2026-11-27 tree empty v1"
ZERO_HASH = "0" * 64

# FORMAT.md section 3: the keys of the envelope; every other key of a record belongs to its
# event.
ENVELOPE_KEYS = ("format", "seq", "prev", "recorded_at", "actor", "type", "effective", "decision")

# FORMAT.md section 11, in the document's order. Each field is (name, value type, presence):
# "required", "optional" (`name?`) or "default" (`name: [T] = []`, always written).
CATALOGUE = [
    ("LocalityRegistered", [("locality", "id", "required"), ("name", "text", "required"), ("kind", "LocalityKind", "required"), ("parent", "id", "optional"), ("border", "bool", "required")]),
    ("LocalityChanged", [("locality", "id", "required"), ("name", "text", "optional"), ("parent", "id", "optional"), ("border", "bool", "optional")]),
    ("LocalityRetired", [("locality", "id", "required"), ("merged_into", "id", "optional")]),
    ("OrganizationFounded", [("org", "id", "required"), ("name", "text", "required"), ("kind", "OrgKind", "required"), ("parent", "id", "optional"), ("localities", "[id]", "required")]),
    ("OrganizationRenamed", [("org", "id", "required"), ("name", "text", "required")]),
    ("OrganizationDissolved", [("org", "id", "required"), ("merged_into", "id", "optional")]),
    ("BackgroundVerified", [("person", "id", "required"), ("outcome", "VerificationOutcome", "required"), ("kin_abroad", "bool", "required")]),
    ("MemberAdmitted", [("member", "id", "required"), ("name", "text", "required"), ("sex", "Sex", "required"), ("birth_date", "date", "required"), ("home_locality", "id", "required"), ("org", "id", "required"), ("introducers", "[id]", "optional")]),
    ("MemberOfficialized", [("member", "id", "required")]),
    ("MemberTransferred", [("member", "id", "required"), ("to_org", "id", "required"), ("home_locality", "id", "optional")]),
    ("TemporaryActivityStarted", [("member", "id", "required"), ("host_org", "id", "required"), ("until", "date", "optional")]),
    ("TemporaryActivityEnded", [("member", "id", "required"), ("host_org", "id", "required")]),
    ("MemberExempted", [("member", "id", "required"), ("reason", "text", "required")]),
    ("ExemptionRevoked", [("member", "id", "required")]),
    ("MemberDisciplined", [("member", "id", "required"), ("form", "DisciplineForm", "required")]),
    ("MembershipEnded", [("member", "id", "required"), ("reason", "EndReason", "required")]),
    ("ProfileCorrected", [("subject", "id", "required"), ("field", "ProfileField", "required"), ("value", "text", "required"), ("reason", "text", "required")]),
    ("InstrumentIssued", [("instrument", "id", "required"), ("kind", "InstrumentKind", "required"), ("title", "text", "required"), ("issuer", "text", "required"), ("starts", "date", "optional"), ("ends", "date", "optional")]),
    ("PositionAssigned", [("person", "id", "required"), ("org", "id", "required"), ("position", "id", "required"), ("term", "id", "optional")]),
    ("PositionEnded", [("person", "id", "required"), ("org", "id", "required"), ("position", "id", "required")]),
    ("CadrePlanned", [("person", "id", "required"), ("term", "id", "required"), ("position", "id", "required"), ("org", "id", "required")]),
    ("CadreUnplanned", [("person", "id", "required"), ("term", "id", "required")]),
    ("CadreAssessed", [("person", "id", "required"), ("programme", "id", "required"), ("meets_standard", "bool", "required"), ("gaps", "[StandardDimension]", "required")]),
    ("TrainingCompleted", [("person", "id", "required"), ("course", "text", "required"), ("dimension", "StandardDimension", "required"), ("level", "text", "required"), ("programme", "id", "optional")]),
    ("CadreStandardized", [("person", "id", "required"), ("programme", "id", "required")]),
    ("CadreRetiredUnderPolicy", [("person", "id", "required"), ("programme", "id", "required")]),
    ("SupervisorAssigned", [("member", "id", "required"), ("cell", "id", "required")]),
    ("SupervisorReleased", [("member", "id", "required"), ("cell", "id", "required")]),
    ("CellMeetingHeld", [("cell", "id", "required"), ("kind", "MeetingKind", "required"), ("attendance", "u32", "required"), ("supervisor_present", "bool", "optional"), ("topics", "[text]", "default")]),
    ("ResolutionAdopted", [("cell", "id", "required"), ("resolution", "id", "required"), ("topic", "ResolutionTopic", "required"), ("title", "text", "required")]),
    ("QualityRated", [("subject", "id", "required"), ("year", "i32", "required"), ("level", "QualityLevel", "required")]),
]

ENUMERATIONS = [
    ("LocalityKind", ["province", "district", "commune", "hamlet", "residential_group"]),
    ("OrgKind", ["provincial_committee", "district_committee", "grassroots_committee", "cell", "border_post_committee"]),
    ("VerificationOutcome", ["cleared", "refused"]),
    ("Sex", ["female", "male"]),
    ("DisciplineForm", ["reprimand", "warning", "dismissal", "expulsion"]),
    ("EndReason", ["expelled", "removed", "resigned", "died"]),
    ("ProfileField", ["name", "sex", "birth_date", "home_locality"]),
    ("InstrumentKind", ["directive", "guidance", "resolution", "project", "regulation", "decision", "conclusion"]),
    ("StandardDimension", ["education", "professional", "political_theory", "state_management"]),
    ("MeetingKind", ["regular", "thematic"]),
    ("ResolutionTopic", ["rural_roads", "land_donation", "public_works", "economy", "security", "party_building", "other"]),
    ("QualityLevel", ["excellent", "good", "fair", "weak"]),
]

EVENTS = {name: fields for name, fields in CATALOGUE}
ENUMS = {name: set(values) for name, values in ENUMERATIONS}

# FORMAT.md section 2, "text": the Unicode White_Space characters. A text made only of these
# is empty. Listed here rather than taken from str.isspace, whose set differs slightly.
WHITE_SPACE = set(
    "\u0009\u000a\u000b\u000c\u000d\u0020\u0085\u00a0\u1680"
    "\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u2028\u2029\u202f\u205f\u3000"
)
MAX_TEXT_CHARS = 500
ID_PATTERN = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?\Z")
HASH_PATTERN = re.compile(r"[0-9a-f]{64}\Z")
DATE_PATTERN = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})\Z")
TIMESTAMP_PATTERN = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})\.[0-9]{6}Z\Z")


class BadRecord(Exception):
    """A line that is not a good record; its message is the verdict's `error`."""


def malformed(message):
    return BadRecord("malformed record: " + message)


def canonical_bytes(value):
    """FORMAT.md section 4, through the Python equivalence stated there."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def event_hash(canonical):
    """FORMAT.md section 5."""
    return blake3.blake3(canonical, derive_key_context=EVENT_HASH_CONTEXT).hexdigest()


class Tree:
    """FORMAT.md section 12: the roots of the perfect subtrees of the leaves so far, largest
    first (one per bit of the size), from which the root at the current size follows."""

    def __init__(self):
        self.subtrees = []  # (number of leaves, hash)

    def push(self, event_hash_hex):
        leaf = blake3.blake3(bytes.fromhex(event_hash_hex), derive_key_context=TREE_LEAF_CONTEXT).digest()
        self.subtrees.append((1, leaf))
        while len(self.subtrees) > 1 and self.subtrees[-1][0] == self.subtrees[-2][0]:
            (n, right), (_, left) = self.subtrees.pop(), self.subtrees.pop()
            self.subtrees.append((2 * n, node_hash(left, right)))

    def root(self):
        if not self.subtrees:
            return blake3.blake3(b"", derive_key_context=TREE_EMPTY_CONTEXT).hexdigest()
        root = self.subtrees[-1][1]
        for _, left in reversed(self.subtrees[:-1]):
            root = node_hash(left, root)
        return root.hex()


def node_hash(left, right):
    return blake3.blake3(left + right, derive_key_context=TREE_NODE_CONTEXT).digest()


def refuse_fraction(text):
    raise ValueError("a number with a fraction or an exponent: " + text)


def refuse_constant(text):
    raise ValueError("not JSON: " + text)


def object_without_repeats(pairs):
    obj = {}
    for key, value in pairs:
        if key in obj:
            raise ValueError("duplicate key `%s`" % key)
        obj[key] = value
    return obj


def parse_json(text):
    """Parses one JSON document, refusing repeated keys, fractions and non-finite numbers."""
    try:
        return json.loads(
            text,
            object_pairs_hook=object_without_repeats,
            parse_float=refuse_fraction,
            parse_constant=refuse_constant,
        )
    except (ValueError, RecursionError) as e:
        raise malformed(str(e))


def is_integer(value):
    return isinstance(value, int) and not isinstance(value, bool)


def days_in_month(year, month):
    if month == 2:
        leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
        return 29 if leap else 28
    return 30 if month in (4, 6, 9, 11) else 31


def real_date(year, month, day):
    return 1 <= month <= 12 and 1 <= day <= days_in_month(year, month)


class RecordReader:
    """Checks one record's values. Problems of shape raise at once; a value that is valid but
    not in normal form (text not NFC, a missing defaulted field) only marks the record as not
    canonical, which is reported once the shape is known to be right."""

    def __init__(self):
        self.not_canonical = False

    def check(self, value_type, value, where):
        if value_type.startswith("["):
            if not isinstance(value, list):
                raise malformed("%s must be a list" % where)
            for i, item in enumerate(value):
                self.check(value_type[1:-1], item, "%s[%d]" % (where, i))
        elif value_type == "id":
            if not isinstance(value, str) or not ID_PATTERN.match(value):
                raise malformed("%s: invalid id %s" % (where, json.dumps(value, ensure_ascii=False)))
        elif value_type == "text":
            self.check_text(value, where)
        elif value_type == "date":
            self.check_date(value, where)
        elif value_type == "timestamp":
            self.check_timestamp(value, where)
        elif value_type == "hash":
            if not isinstance(value, str) or not HASH_PATTERN.match(value):
                raise malformed("%s: expected 64 lowercase hex digits" % where)
        elif value_type == "bool":
            if not isinstance(value, bool):
                raise malformed("%s must be true or false" % where)
        elif value_type in ("u32", "i32", "u64"):
            low, high = {"u32": (0, 2**32 - 1), "i32": (-(2**31), 2**31 - 1), "u64": (0, 2**64 - 1)}[value_type]
            if not is_integer(value) or not low <= value <= high:
                raise malformed("%s must be an integer from %d to %d" % (where, low, high))
        elif value_type in ENUMS:
            if not isinstance(value, str) or value not in ENUMS[value_type]:
                raise malformed("%s must be one of %s" % (where, ", ".join(sorted(ENUMS[value_type]))))
        else:
            raise AssertionError("unknown value type " + value_type)

    def check_text(self, value, where):
        if not isinstance(value, str):
            raise malformed("%s must be text" % where)
        nfc = unicodedata.normalize("NFC", value)
        if all(c in WHITE_SPACE for c in nfc):
            raise malformed("%s: empty text" % where)
        if len(nfc) > MAX_TEXT_CHARS:
            raise malformed("%s: text longer than %d characters" % (where, MAX_TEXT_CHARS))
        if any(ord(c) <= 0x1F or 0x7F <= ord(c) <= 0x9F for c in nfc):
            raise malformed("%s: text holds a control character" % where)
        if nfc != value:
            self.not_canonical = True

    def check_date(self, value, where):
        m = DATE_PATTERN.match(value) if isinstance(value, str) else None
        if not m or not real_date(*map(int, m.groups())):
            raise malformed("%s: expected a real calendar date as YYYY-MM-DD" % where)
        if not 1900 <= int(m.group(1)) <= 2100:
            raise malformed("%s: date outside the years 1900 to 2100" % where)

    def check_timestamp(self, value, where):
        m = TIMESTAMP_PATTERN.match(value) if isinstance(value, str) else None
        if not m:
            raise malformed("%s: expected YYYY-MM-DDTHH:MM:SS.ffffffZ" % where)
        year, month, day, hour, minute, second = map(int, m.groups())
        if not real_date(year, month, day) or hour > 23 or minute > 59 or second > 59:
            raise malformed("%s: expected YYYY-MM-DDTHH:MM:SS.ffffffZ" % where)

    def check_record(self, record):
        """FORMAT.md section 7, step 4, on a record without its `hash`."""
        version = record.get("format")
        if not is_integer(version) or not 0 <= version < 2**64:
            raise malformed("missing or bad `format`")
        if version != FORMAT_VERSION:
            raise BadRecord("unsupported format version %d" % version)
        for key, value_type in (("seq", "u64"), ("prev", "hash"), ("recorded_at", "timestamp"), ("actor", "id")):
            if key not in record:
                raise malformed("missing `%s`" % key)
            self.check(value_type, record[key], key)
        if record["seq"] < 1:
            raise malformed("missing or bad `seq`")
        type_name = record.get("type")
        if not isinstance(type_name, str):
            raise malformed("missing or bad `type`")
        if type_name not in EVENTS:
            raise malformed("unknown event type %s" % json.dumps(type_name, ensure_ascii=False))
        if "effective" not in record:
            raise malformed("%s: missing field `effective`" % type_name)
        self.check("date", record["effective"], "effective")
        if "decision" in record:
            self.check_decision(record["decision"])
        fields = EVENTS[type_name]
        known = set(ENVELOPE_KEYS) | {name for name, _, _ in fields}
        for key in record:
            if key not in known:
                raise malformed("%s: unknown field `%s`" % (type_name, key))
        for name, value_type, presence in fields:
            if name not in record:
                if presence == "required":
                    raise malformed("%s: missing field `%s`" % (type_name, name))
                if presence == "default":
                    self.not_canonical = True
            else:
                self.check(value_type, record[name], "%s.%s" % (type_name, name))

    def check_decision(self, decision):
        if not isinstance(decision, dict) or set(decision) != {"number", "date", "issuer"}:
            raise malformed("decision must have exactly `number`, `date` and `issuer`")
        self.check("text", decision["number"], "decision.number")
        self.check("date", decision["date"], "decision.date")
        self.check("id", decision["issuer"], "decision.issuer")


def read_line(line):
    """FORMAT.md section 7, steps 1 to 5: returns the record (with its `hash`) of a good line."""
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError:
        raise BadRecord("the line is not valid UTF-8")
    record = parse_json(text)
    if not isinstance(record, dict):
        raise malformed("a record must be a JSON object")
    stated = record.get("hash")
    if not isinstance(stated, str):
        raise malformed("missing field `hash`")
    if not HASH_PATTERN.match(stated):
        raise malformed("invalid hash %s: expected 64 lowercase hex digits" % json.dumps(stated, ensure_ascii=False))
    content = {key: value for key, value in record.items() if key != "hash"}
    try:
        computed = event_hash(canonical_bytes(content))
    except UnicodeEncodeError:
        # A lone surrogate (`\ud800`) has no UTF-8 form, so no canonical bytes.
        raise malformed("a string holds a lone surrogate")
    if computed != stated:
        raise BadRecord("hash mismatch: the record says %s, its bytes hash to %s" % (stated, computed))
    reader = RecordReader()
    reader.check_record(content)
    if reader.not_canonical or canonical_bytes(record) != line:
        raise BadRecord("record is not in canonical form")
    return record


def verify(data):
    """FORMAT.md section 7 over the bytes of a whole export file; returns the verdict."""
    events, head, tree = 0, ZERO_HASH, Tree()
    for line in data.split(b"\n"):
        if not line:
            continue
        expected = events + 1
        try:
            record = read_line(line)
        except BadRecord as e:
            return {"ok": False, "seq": expected, "error": str(e)}
        if record["seq"] != expected:
            return {"ok": False, "seq": expected, "error": "expected record %d, found seq %d" % (expected, record["seq"])}
        if record["prev"] != head:
            what = "all zeros" if expected == 1 else "the hash of record %d" % (expected - 1)
            return {"ok": False, "seq": expected, "error": "prev is %s, not %s (%s)" % (record["prev"], what, head)}
        events, head = expected, record["hash"]
        tree.push(head)
    return {"ok": True, "events": events, "head": head, "root": tree.root()}


def print_json(value):
    print(json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False))


def main(argv):
    if len(argv) != 2 or argv[1] in ("-h", "--help"):
        print(__doc__.strip(), file=sys.stderr)
        return 2
    if argv[1] == "--catalogue":
        print_json({
            "events": [[name, [list(field) for field in fields]] for name, fields in CATALOGUE],
            "enumerations": [[name, values] for name, values in ENUMERATIONS],
        })
        return 0
    try:
        with open(argv[1], "rb") as f:
            data = f.read()
    except OSError as e:
        print("error: %s: %s" % (argv[1], e.strerror), file=sys.stderr)
        return 2
    verdict = verify(data)
    print_json(verdict)
    if not verdict["ok"]:
        print("error: the chain is broken at record %d: %s" % (verdict["seq"], verdict["error"]), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
