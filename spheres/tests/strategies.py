"""Hypothesis strategies of e-mail addresses, for the tests of the address policy and
of the message builder: plausible input (what a CSV or a form brings, Unicode domains
included), addresses built after ``FAST_PATH_REGEX``, and arbitrary text."""

from __future__ import annotations

import string

from hypothesis import strategies as st

from spheres.addresses import MAX_LENGTH, AddressRefused, address_normalize

ATEXT = string.ascii_letters + string.digits + "!#$%&'*+/=?^_`{|}~-"

# Letters of several scripts, for domain labels: Latin with accents, Greek, Cyrillic,
# Arabic, Hebrew, Devanagari, Thai, Hangul, kana and CJK ideographs.
SCRIPTS = (
    "abcdefghijklmnopqrstuvwxyz0123456789"
    "àâäçéèêëîïôöùûüÿœæßñ"
    "αβγδεζηθικλμνξοπρστυφχψω"
    "абвгдежзийклмнопрстуфхцчшщыэюя"
    "ابتثجحخدذرزسشصضطظعغفقكلمنهوي"
    "אבגדהוזחטיכלמנסעפצקרשת"
    "कखगघचछजझटठडढणतथदधनपफबभमयरलवशषसह"
    "กขคงจฉชซญดตถทธนบปผพฟมยรลวศษสหอฮ"
    "가나다라마바사아자차카타파하"
    "あいうえおかきくけこさしすせそアイウエオカキクケコ"
    "日本語中文例子學校教育"
)

local_parts = st.lists(
    st.text(alphabet=ATEXT, min_size=1, max_size=12), min_size=1, max_size=4
).map(".".join)
ascii_labels = st.from_regex(r"[a-z0-9](?:[a-z0-9-]{0,12}[a-z0-9])?", fullmatch=True)
unicode_labels = st.text(alphabet=SCRIPTS, min_size=1, max_size=15)
tlds = st.sampled_from(["fr", "com", "org", "de", "jp", "рф", "中国", "ελ", "example"])
domains = st.builds(
    lambda labels, tld: ".".join([*labels, tld]),
    st.lists(st.one_of(ascii_labels, unicode_labels), min_size=1, max_size=3),
    tlds,
)
unicode_domains = domains.filter(lambda d: not d.isascii())
handmade_addresses = st.builds(
    lambda local, domain: f"{local}@{domain}", local_parts, domains
)
# What the dispatcher's SQL clears, built part by part after FAST_PATH_REGEX.
fast_path_locals = st.lists(
    st.text(alphabet=ATEXT, min_size=1, max_size=15), min_size=1, max_size=4
).map(".".join)
fast_path_labels = st.lists(
    st.text(alphabet=string.ascii_lowercase + string.digits, min_size=1, max_size=20),
    min_size=1,
    max_size=3,
).map("-".join)
fast_path_addresses = st.builds(
    lambda local, labels, tld: f"{local}@{'.'.join(labels)}.{tld}",
    fast_path_locals,
    st.lists(fast_path_labels, min_size=1, max_size=4),
    st.text(alphabet=string.ascii_lowercase, min_size=2, max_size=24),
).filter(lambda address: len(address) <= MAX_LENGTH)
# Plausible input, and things around it: spaces, upper case, a trailing dot, quotes.
plausible = st.one_of(
    st.emails(),
    handmade_addresses,
    fast_path_addresses,
    st.builds(
        lambda before, address, after: f"{before}{address}{after}",
        st.sampled_from(["", " ", "\t", '"', "<", "\u00a0"]),
        st.one_of(st.emails(), handmade_addresses),
        st.sampled_from(["", " ", ".", '"', ">", "\n", "\u3002"]),
    ),
)
anything = st.one_of(
    plausible,
    st.text(),
    st.text(alphabet=st.characters(codec="utf-8")).map(lambda t: f"{t}@{t}"),
    st.builds(lambda a, b: f"{a}@{b}", st.text(max_size=20), st.text(max_size=40)),
)


def accepted(value: str) -> str | None:
    try:
        return address_normalize(value)
    except AddressRefused:
        return None


# What the message builder receives: addresses as the policy writes them.
accepted_addresses = plausible.map(accepted).filter(bool)
