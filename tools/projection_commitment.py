#!/usr/bin/env python3
"""The projection commitment of an orgledger export file, recomputed from FORMAT.md alone.

It shares no code with orgledger: it folds the records of the file into the state of
FORMAT.md section 16 (the entity views and the four lists), encodes each view and list item
as that section gives, and hashes them with the `blake3` package. It prints one line,

    {"commitment":"<hex>","entities":E,"seq":N}

the commitment at the file's last record (or at `--seq N`, after its first N records),
which is the value a checkpoint of that size carries in its `projection v1` line.

It does not verify the file: run tools/verify_export.py (or `orgledger verify --file`) for
that. A file that cannot be read gives exit status 2.

Usage:
    python3 tools/projection_commitment.py EXPORT_FILE [--seq N | --each] [--explain]

`--each` prints that line after every record instead (and first for the empty state).

`--explain` also prints, to standard error, the bytes behind the value: each entity's
hashed bytes and hash, each list item's bytes and the chain after it, and the commitment's
hashed bytes, in hex (the worked example of FORMAT.md section 16 is this output).

Needs: Python 3.8 or later and `pip install -r tools/requirements.txt` (blake3).
"""

import datetime
import json
import re
import sys

import blake3

# FORMAT.md section 16, the contexts.
ENTITY_CONTEXT = "orgledger 2026-11-27 projection entity v1"
LIST_CONTEXT = "orgledger 2026-11-27 projection list v1"
COMMITMENT_CONTEXT = "orgledger 2026-11-27 projection commitment v1"

# FORMAT.md section 16, the sections and their bytes.
LOCALITY, ORGANIZATION, MEMBER, CADRE, INSTRUMENT = 1, 2, 3, 4, 5

# FORMAT.md section 11: an enumeration value is encoded as its index in this list.
ENUMERATIONS = {
    "LocalityKind": ["province", "district", "commune", "hamlet", "residential_group"],
    "OrgKind": ["provincial_committee", "district_committee", "grassroots_committee", "cell", "border_post_committee"],
    "VerificationOutcome": ["cleared", "refused"],
    "Sex": ["female", "male"],
    "EndReason": ["expelled", "removed", "resigned", "died"],
    "InstrumentKind": ["directive", "guidance", "resolution", "project", "regulation", "decision", "conclusion"],
    "StandardDimension": ["education", "professional", "political_theory", "state_management"],
    "MeetingKind": ["regular", "thematic"],
    "ResolutionTopic": ["rural_roads", "land_donation", "public_works", "economy", "security", "party_building", "other"],
    "QualityLevel": ["excellent", "good", "fair", "weak"],
    # Section 16's own two enumerations.
    "MemberStatus": ["probationary", "official"],
    "Outcome": ["standardized", "retired_under_policy"],
}


# FORMAT.md section 2: the forms of an id and of a date (a correction's `value` is text, and
# changes a birth date or a home locality only when it has the form of one).
ID_PATTERN = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?\Z")
DATE_PATTERN = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})\Z")


def is_date(text):
    m = DATE_PATTERN.match(text)
    if not m or not 1900 <= int(m.group(1)) <= 2100:
        return False
    try:
        datetime.date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    except ValueError:
        return False
    return True


# --- The bytes of a value (FORMAT.md section 16, "Encoding") ---


def varint(n):
    """An unsigned integer, 7 bits a byte, least significant group first."""
    assert n >= 0
    out = bytearray()
    while True:
        low = n & 0x7F
        n >>= 7
        if n:
            out.append(low | 0x80)
        else:
            out.append(low)
            return bytes(out)


def u64(n):
    return varint(n)


def i32(n):
    """A signed integer, zigzag-mapped to an unsigned one, then a varint."""
    return varint((n << 1) if n >= 0 else ((-n) << 1) - 1)


def boolean(b):
    return b"\x01" if b else b"\x00"


def string(s):
    data = s.encode("utf-8")
    return varint(len(data)) + data


def date(s):
    """A date is the i32 of its day number: 0001-01-01 is day 1."""
    return i32(datetime.date.fromisoformat(s).toordinal())


def enum(kind, value):
    return varint(ENUMERATIONS[kind].index(value))


def option(value, encode):
    return b"\x00" if value is None else b"\x01" + encode(value)


def seq_of(items, encode):
    return varint(len(items)) + b"".join(encode(item) for item in items)


def unit(_):
    return b""


# --- The state (FORMAT.md section 16, "The state") ---


class Span:
    """One version of a value: value, from, opened, until (date, seq) or None, superseded."""

    __slots__ = ("value", "start", "opened", "until", "superseded")

    def __init__(self, value, start, opened):
        self.value, self.start, self.opened, self.until, self.superseded = value, start, opened, None, None

    def encode(self, encode_value):
        return (
            encode_value(self.value)
            + date(self.start)
            + u64(self.opened)
            + option(self.until, lambda u: date(u[0]) + u64(u[1]))
            + option(self.superseded, u64)
        )


class Timeline:
    """The versions of one value, a list of spans in the order they were added."""

    def __init__(self):
        self.spans = []

    @classmethod
    def start(cls, value, d, s):
        t = cls()
        t.set(value, d, s)
        return t

    def set(self, value, d, s):
        self.end(d, s)
        self.spans.append(Span(value, d, s))

    def end(self, d, s):
        for span in reversed(self.spans):
            if span.superseded is None and span.until is None:
                span.until = (d, s)
                return

    def correct(self, value, s):
        for span in reversed(self.spans):
            if span.superseded is None:
                span.superseded = s
                corrected = Span(value, span.start, s)
                corrected.until = span.until
                self.spans.append(corrected)
                return

    def encode(self, encode_value):
        return seq_of(self.spans, lambda span: span.encode(encode_value))


class State:
    """The state of FORMAT.md 16.1. A view is a dict of its fields; an absent value, and the
    unit value `()` of the timelines that only say when a thing holds, are None."""

    def __init__(self):
        self.seq = 0
        # section byte -> {id: view}; a view is a dict of its fields.
        self.views = {LOCALITY: {}, ORGANIZATION: {}, MEMBER: {}, CADRE: {}, INSTRUMENT: {}}
        # verifications, admissions, meetings, resolutions: (length, chain hash)
        self.lists = [[0, bytes(32)] for _ in range(4)]
        self.explain = None

    def push(self, which, item_bytes):
        item_hash = blake3.blake3(item_bytes).digest()
        chain = self.lists[which]
        chain[1] = blake3.blake3(chain[1] + item_hash, derive_key_context=LIST_CONTEXT).digest()
        chain[0] += 1
        if self.explain:
            self.explain("list %d item %d: %s -> blake3 %s -> chain %s" % (which, chain[0], item_bytes.hex(), item_hash.hex(), chain[1].hex()))

    def cadre(self, person):
        return self.views[CADRE].setdefault(person, {"positions": [], "plans": [], "assessments": []})

    def assessment(self, person, programme):
        c = self.views[CADRE].get(person)
        if c is None:
            return None
        for a in reversed(c["assessments"]):
            if a["programme"] == programme and a["superseded"] is None:
                return a
        return None

    def fold(self, r):
        d, s, t = r["effective"], r["seq"], r["type"]
        localities, orgs, members = self.views[LOCALITY], self.views[ORGANIZATION], self.views[MEMBER]
        member = members.get(r.get("member", r.get("subject")))
        if t == "LocalityRegistered":
            localities[r["locality"]] = {
                "kind": r["kind"],
                "registered": (d, s),
                "alive": Timeline.start(None, d, s),
                "name": Timeline.start(r["name"], d, s),
                "parent": Timeline.start(r.get("parent"), d, s),
                "border": Timeline.start(r["border"], d, s),
            }
        elif t == "LocalityChanged":
            l = localities.get(r["locality"])
            if l is not None:
                if "name" in r:
                    l["name"].set(r["name"], d, s)
                if "parent" in r:
                    l["parent"].set(r["parent"], d, s)
                if "border" in r:
                    l["border"].set(r["border"], d, s)
        elif t == "LocalityRetired":
            if r["locality"] in localities:
                localities[r["locality"]]["alive"].end(d, s)
        elif t == "OrganizationFounded":
            orgs[r["org"]] = {
                "kind": r["kind"],
                "parent": r.get("parent"),
                "localities": list(r["localities"]),
                "founded": (d, s),
                "alive": Timeline.start(None, d, s),
                "name": Timeline.start(r["name"], d, s),
                "supervisors": [],
                "ratings": [],
            }
        elif t == "OrganizationRenamed":
            if r["org"] in orgs:
                orgs[r["org"]]["name"].set(r["name"], d, s)
        elif t == "OrganizationDissolved":
            if r["org"] in orgs:
                orgs[r["org"]]["alive"].end(d, s)
        elif t == "BackgroundVerified":
            self.push(0, string(r["person"]) + enum("VerificationOutcome", r["outcome"]) + boolean(r["kin_abroad"]) + date(d) + u64(s))
        elif t == "MemberAdmitted":
            members[r["member"]] = {
                "admitted": (d, s),
                "admitted_to": r["org"],
                "active": Timeline.start(None, d, s),
                "name": Timeline.start(r["name"], d, s),
                "sex": Timeline.start(r["sex"], d, s),
                "birth_date": Timeline.start(r["birth_date"], d, s),
                "home_locality": Timeline.start(r["home_locality"], d, s),
                "org": Timeline.start(r["org"], d, s),
                "status": Timeline.start("probationary", d, s),
                "temporary": Timeline(),
                "exempted": Timeline(),
                "ended": None,
            }
            self.push(1, string(r["member"]) + string(r["org"]) + string(r["home_locality"]) + enum("Sex", r["sex"]) + date(d) + u64(s))
        elif t == "MemberOfficialized":
            if member is not None:
                member["status"].set("official", d, s)
        elif t == "MemberTransferred":
            if member is not None:
                member["org"].set(r["to_org"], d, s)
                if "home_locality" in r:
                    member["home_locality"].set(r["home_locality"], d, s)
        elif t == "TemporaryActivityStarted":
            if member is not None:
                member["temporary"].set((r["host_org"], r.get("until")), d, s)
        elif t == "TemporaryActivityEnded":
            if member is not None:
                member["temporary"].end(d, s)
        elif t == "MemberExempted":
            if member is not None:
                member["exempted"].set(None, d, s)
        elif t == "ExemptionRevoked":
            if member is not None:
                member["exempted"].end(d, s)
        elif t == "MemberDisciplined":
            pass
        elif t == "MembershipEnded":
            if member is not None:
                for field in ("active", "org", "status", "temporary", "exempted"):
                    member[field].end(d, s)
                member["ended"] = (d, r["reason"], s)
            for o in orgs.values():
                for span in o["supervisors"]:
                    if span.value == r["member"] and span.until is None:
                        span.until = (d, s)
            c = self.views[CADRE].get(r["member"])
            if c is not None:
                for span in c["positions"]:
                    if span.until is None:
                        span.until = (d, s)
        elif t == "ProfileCorrected":
            if member is not None:
                field, value = r["field"], r["value"]
                if field == "name":
                    member["name"].correct(value, s)
                elif field == "sex":
                    member["sex"].correct("female" if value == "female" else "male", s)
                elif field == "birth_date":
                    if is_date(value):
                        member["birth_date"].correct(value, s)
                elif field == "home_locality":
                    if ID_PATTERN.match(value):
                        member["home_locality"].correct(value, s)
        elif t == "InstrumentIssued":
            self.views[INSTRUMENT][r["instrument"]] = {
                "kind": r["kind"],
                "title": r["title"],
                "issuer": r["issuer"],
                "issued": (d, s),
                "starts": r.get("starts"),
                "ends": r.get("ends"),
            }
        elif t == "PositionAssigned":
            self.cadre(r["person"])["positions"].append(Span((r["org"], r["position"], r.get("term")), d, s))
        elif t == "PositionEnded":
            for span in self.cadre(r["person"])["positions"]:
                if span.until is None and span.value[0] == r["org"] and span.value[1] == r["position"]:
                    span.until = (d, s)
        elif t == "CadrePlanned":
            self.cadre(r["person"])["plans"].append(Span((r["term"], r["position"], r["org"]), d, s))
        elif t == "CadreUnplanned":
            for span in self.cadre(r["person"])["plans"]:
                if span.until is None and span.value[0] == r["term"]:
                    span.until = (d, s)
        elif t == "CadreAssessed":
            c = self.cadre(r["person"])
            for a in c["assessments"]:
                if a["programme"] == r["programme"] and a["superseded"] is None:
                    a["superseded"] = s
            c["assessments"].append({
                "programme": r["programme"], "date": d, "seq": s, "gaps": list(r["gaps"]),
                "closed": [], "outcome": None, "superseded": None,
            })
        elif t == "TrainingCompleted":
            if "programme" in r:
                a = self.assessment(r["person"], r["programme"])
                if a is not None and all(g != r["dimension"] for g, _, _ in a["closed"]):
                    a["closed"].append((r["dimension"], d, s))
        elif t in ("CadreStandardized", "CadreRetiredUnderPolicy"):
            a = self.assessment(r["person"], r["programme"])
            if a is not None:
                a["outcome"] = ("standardized" if t == "CadreStandardized" else "retired_under_policy", d, s)
        elif t == "SupervisorAssigned":
            if r["cell"] in orgs:
                orgs[r["cell"]]["supervisors"].append(Span(r["member"], d, s))
        elif t == "SupervisorReleased":
            if r["cell"] in orgs:
                for span in orgs[r["cell"]]["supervisors"]:
                    if span.value == r["member"] and span.until is None:
                        span.until = (d, s)
        elif t == "CellMeetingHeld":
            self.push(2, string(r["cell"]) + enum("MeetingKind", r["kind"]) + u64(r["attendance"]) + boolean(r.get("supervisor_present", False)) + date(d) + u64(s))
        elif t == "ResolutionAdopted":
            self.push(3, string(r["cell"]) + string(r["resolution"]) + enum("ResolutionTopic", r["topic"]) + string(r["title"]) + date(d) + u64(s))
        elif t == "QualityRated":
            if r["subject"] in orgs:
                orgs[r["subject"]]["ratings"].append((r["year"], r["level"], d, s))
        else:
            raise ValueError("seq %d: unknown event type %r" % (s, t))
        self.seq = s

    def commitment(self):
        hashes = []
        for section in (LOCALITY, ORGANIZATION, MEMBER, CADRE, INSTRUMENT):
            views = self.views[section]
            # Ids are ASCII, so sorting the strings sorts their bytes.
            for id_ in sorted(views):
                body = VIEW_ENCODERS[section](views[id_])
                key = bytes([section]) + len(id_).to_bytes(2, "big") + id_.encode("ascii")
                h = blake3.blake3(key + body, derive_key_context=ENTITY_CONTEXT).digest()
                if self.explain:
                    self.explain("entity %d %s: %s -> %s" % (section, id_, (key + body).hex(), h.hex()))
                hashes.append(h)
        data = self.seq.to_bytes(8, "big") + len(hashes).to_bytes(8, "big") + b"".join(hashes)
        for length, chain in self.lists:
            data += length.to_bytes(8, "big") + chain
        h = blake3.blake3(data, derive_key_context=COMMITMENT_CONTEXT).hexdigest()
        if self.explain:
            self.explain("commitment: %s -> %s" % (data.hex(), h))
        return h, len(hashes)


def date_seq(p):
    return date(p[0]) + u64(p[1])


def locality_view(v):
    return (
        enum("LocalityKind", v["kind"])
        + date_seq(v["registered"])
        + v["alive"].encode(unit)
        + v["name"].encode(string)
        + v["parent"].encode(lambda p: option(p, string))
        + v["border"].encode(boolean)
    )


def org_view(v):
    return (
        enum("OrgKind", v["kind"])
        + option(v["parent"], string)
        + seq_of(v["localities"], string)
        + date_seq(v["founded"])
        + v["alive"].encode(unit)
        + v["name"].encode(string)
        + seq_of(v["supervisors"], lambda span: span.encode(string))
        + seq_of(v["ratings"], lambda x: i32(x[0]) + enum("QualityLevel", x[1]) + date(x[2]) + u64(x[3]))
    )


def member_view(v):
    return (
        date_seq(v["admitted"])
        + string(v["admitted_to"])
        + v["active"].encode(unit)
        + v["name"].encode(string)
        + v["sex"].encode(lambda x: enum("Sex", x))
        + v["birth_date"].encode(date)
        + v["home_locality"].encode(string)
        + v["org"].encode(string)
        + v["status"].encode(lambda x: enum("MemberStatus", x))
        + v["temporary"].encode(lambda x: string(x[0]) + option(x[1], date))
        + v["exempted"].encode(unit)
        + option(v["ended"], lambda e: date(e[0]) + enum("EndReason", e[1]) + u64(e[2]))
    )


def cadre_view(v):
    def assessment(a):
        return (
            string(a["programme"])
            + date(a["date"])
            + u64(a["seq"])
            + seq_of(a["gaps"], lambda g: enum("StandardDimension", g))
            + seq_of(a["closed"], lambda c: enum("StandardDimension", c[0]) + date(c[1]) + u64(c[2]))
            + option(a["outcome"], lambda o: enum("Outcome", o[0]) + date(o[1]) + u64(o[2]))
            + option(a["superseded"], u64)
        )

    return (
        seq_of(v["positions"], lambda span: span.encode(lambda p: string(p[0]) + string(p[1]) + option(p[2], string)))
        + seq_of(v["plans"], lambda span: span.encode(lambda p: string(p[0]) + string(p[1]) + string(p[2])))
        + seq_of(v["assessments"], assessment)
    )


def instrument_view(v):
    return (
        enum("InstrumentKind", v["kind"])
        + string(v["title"])
        + string(v["issuer"])
        + date_seq(v["issued"])
        + option(v["starts"], date)
        + option(v["ends"], date)
    )


VIEW_ENCODERS = {
    LOCALITY: locality_view,
    ORGANIZATION: org_view,
    MEMBER: member_view,
    CADRE: cadre_view,
    INSTRUMENT: instrument_view,
}


def main(argv):
    args = argv[1:]
    explain = "--explain" in args
    each = "--each" in args
    args = [a for a in args if a not in ("--explain", "--each")]
    upto = None
    if len(args) == 3 and args[1] == "--seq" and args[2].isdigit():
        upto = int(args[2])
        args = args[:1]
    if len(args) != 1 or args[0] in ("-h", "--help"):
        print(__doc__.strip(), file=sys.stderr)
        return 2
    try:
        with open(args[0], "rb") as f:
            data = f.read()
    except OSError as e:
        print("error: %s: %s" % (args[0], e.strerror), file=sys.stderr)
        return 2
    state = State()
    if explain:
        state.explain = lambda line: print(line, file=sys.stderr)
    def print_commitment():
        commitment, entities = state.commitment()
        print(json.dumps({"commitment": commitment, "entities": entities, "seq": state.seq}, sort_keys=True, separators=(",", ":")))

    if each:
        print_commitment()
    for line in data.split(b"\n"):
        if not line:
            continue
        record = json.loads(line.decode("utf-8"))
        if upto is not None and record["seq"] > upto:
            break
        state.fold(record)
        if each:
            print_commitment()
    if upto is not None and state.seq != upto:
        print("error: the file holds %d records, not %d" % (state.seq, upto), file=sys.stderr)
        return 2
    if not each:
        print_commitment()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
